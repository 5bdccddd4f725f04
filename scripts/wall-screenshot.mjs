// Takes a screenshot of a running wall through the DevTools protocol (a one-shot
// `chromium --screenshot` fires before the WebSocket has delivered anything).
// usage: node --experimental-websocket scripts/wall-screenshot.mjs W H DPR OUT URL [waitms] [evaljs]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
const [W, H, DPR, OUT, URL_, WAIT = '3000', EVAL = ''] = process.argv.slice(2);
const dir = mkdtempSync('/tmp/cdpu-');
const ch = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--hide-scrollbars', `--user-data-dir=${dir}`, '--remote-debugging-port=0', `--window-size=${W},${H}`, 'about:blank'], { stdio: 'ignore' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let port;
for (let i = 0; i < 100 && !port; i++) { await sleep(100); if (existsSync(dir + '/DevToolsActivePort')) port = readFileSync(dir + '/DevToolsActivePort', 'utf8').split('\n')[0]; }
const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const ws = new WebSocket(list.find((t) => t.type === 'page').webSocketDebuggerUrl);
await new Promise((r) => (ws.onopen = r));
let id = 0; const waits = new Map();
ws.onmessage = (ev) => { const m = JSON.parse(ev.data); if (m.id && waits.has(m.id)) { waits.get(m.id)(m); waits.delete(m.id); }
  if (m.method === 'Runtime.exceptionThrown') console.log('EXC', JSON.stringify(m.params.exceptionDetails).slice(0, 500));
  if (m.method === 'Runtime.consoleAPICalled') console.log('CONSOLE', m.params.type, m.params.args.map((a) => a.value ?? a.description).join(' '));
  if (m.method === 'Log.entryAdded') console.log('LOG', m.params.entry.level, m.params.entry.text, m.params.entry.url || ''); };
const send = (method, params = {}) => new Promise((r) => { const i = ++id; waits.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
await send('Runtime.enable'); await send('Log.enable'); await send('Page.enable');
await send('Emulation.setDeviceMetricsOverride', { width: +W, height: +H, deviceScaleFactor: +DPR, mobile: false });
await send('Page.navigate', { url: URL_ });
await sleep(+WAIT);
if (EVAL) console.log('EVAL', JSON.stringify((await send('Runtime.evaluate', { expression: EVAL, returnByValue: true, awaitPromise: true })).result));
const shot = await send('Page.captureScreenshot', { format: 'png' });
writeFileSync(OUT, Buffer.from(shot.result.data, 'base64'));
ch.kill(); process.exit(0);
