import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Context } from 'koa';

/**
 * The HTML shell of the console: no inline script or style (the CSP forbids both), one bundled script and one
 * stylesheet from the same origin. The script builds the page; the operator token lives in sessionStorage and
 * goes out as a bearer header, never as a cookie (so there is no CSRF to defend against).
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>CloudPhone operations console</title>
<link rel="stylesheet" href="/console/app.css">
<script src="/console/app.js" defer></script>
</head>
<body>
<noscript>The operations console needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;

export const CONSOLE_CSS = readFileSync(path.join(__dirname, 'web', 'console.css'), 'utf8');

/** Same-origin script, style, images and calls only; no frames, no forms posted elsewhere, no plugins. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The security headers of everything the console serves. */
export function securityHeaders(ctx: Context): void {
  ctx.set({
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  });
}
