import { el, replace } from './dom';
import { token, whenUnauthorized } from './http';
import { aggregateTab } from './tabs/aggregate';
import { deadLettersTab } from './tabs/dead-letters';
import { projectionsTab } from './tabs/projections';
import { rebuildsTab } from './tabs/rebuilds';
import { schemasTab } from './tabs/schemas';
import type { Tab } from './tabs/tab';
import { topicsTab } from './tabs/topics';

/**
 * The operations console: a login form for the operator token (kept in sessionStorage: gone with the tab), then
 * one tab at a time. Everything the API answers is put on the page as text (./dom.ts).
 */
const TABS: readonly Tab[] = [topicsTab, projectionsTab, aggregateTab, deadLettersTab, schemasTab, rebuildsTab];

const app = document.getElementById('app')!;
let stopTab: (() => void) | undefined;

function login(message?: string): void {
  stopTab?.();
  stopTab = undefined;
  const input = el('input', {
    type: 'password',
    name: 'token',
    placeholder: 'operator token (npm run token -- --ops)',
    autocomplete: 'off',
    required: true,
    testid: 'token',
  });
  const form = el(
    'form',
    { class: 'login', testid: 'login' },
    el('h1', {}, 'CloudPhone operations console'),
    message ? el('p', { class: 'error' }, message) : null,
    el('label', {}, 'Operator token ', input),
    el('button', { type: 'submit', testid: 'login-submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    token.set(input.value.trim());
    shell();
  });
  replace(app, form);
  input.focus();
}

function shell(): void {
  const main = el('main', { testid: 'tab-body' });
  const buttons = TABS.map((t) => {
    const b = el('button', { type: 'button', testid: `tab-${t.id}` }, t.title);
    b.addEventListener('click', () => void open(t));
    return b;
  });
  const signOut = el('button', { type: 'button', class: 'sign-out', testid: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => {
    token.clear();
    login();
  });
  replace(app, el('header', {}, el('h1', {}, 'CloudPhone operations'), el('nav', {}, ...buttons, signOut)), main);

  async function open(tab: Tab): Promise<void> {
    stopTab?.();
    stopTab = undefined;
    buttons.forEach((b, i) => b.classList.toggle('active', TABS[i] === tab));
    const root = el('section', { testid: `panel-${tab.id}` }, el('h2', {}, tab.title));
    replace(main, root);
    history.replaceState(null, '', `#${tab.id}`);
    try {
      const stop = await tab.render(root);
      if (stop) stopTab = stop;
    } catch (err) {
      root.append(el('p', { class: 'error', testid: 'tab-error' }, (err as Error).message));
    }
  }
  void open(TABS.find((t) => `#${t.id}` === location.hash) ?? TABS[0]!);
}

whenUnauthorized(() => login('The operator token was refused (401): paste it again.'));
if (token.get()) shell();
else login();
