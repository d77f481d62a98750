/** A tab of the console: renders into its root; may return a function that stops what it started (a refresh). */
export interface Tab {
  readonly id: string;
  readonly title: string;
  render(root: HTMLElement): Promise<void | (() => void)>;
}
