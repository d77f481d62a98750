/**
 * The one way the console puts things on the page: elements built with createElement, text set as text nodes
 * (never innerHTML), attributes from a fixed list. Whatever the platform answers is shown as text.
 */
export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  testid?: string;
  title?: string;
  type?: string;
  name?: string;
  value?: string;
  placeholder?: string;
  autocomplete?: string;
  disabled?: boolean;
  required?: boolean;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.testid) node.dataset.testid = props.testid;
  if (props.title !== undefined) node.title = props.title;
  for (const attr of ['type', 'name', 'value', 'placeholder', 'autocomplete'] as const) {
    const v = props[attr];
    if (v !== undefined) node.setAttribute(attr, v);
  }
  if (props.disabled) node.setAttribute('disabled', '');
  if (props.required) node.setAttribute('required', '');
  append(node, ...children);
  return node;
}

export function append(node: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Empties a node and fills it again. */
export function replace(node: Node, ...children: Child[]): void {
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, ...children);
}

/** A table: one header row, one row per item; each cell is text or a node. */
export function table<T>(testid: string, columns: ReadonlyArray<[string, (row: T) => Child]>, rows: readonly T[]): HTMLTableElement {
  return el(
    'table',
    { testid },
    el('thead', {}, el('tr', {}, ...columns.map(([title]) => el('th', {}, title)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...columns.map(([, cell]) => el('td', {}, cell(r)))))),
  );
}

/** A time as the operator reads it: ISO, to the second, in UTC. */
export const time = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

/** A duration in seconds as 1h02m03s. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m${String(s).padStart(2, '0')}s`
    : m > 0
      ? `${m}m${String(s).padStart(2, '0')}s`
      : `${s}s`;
}
