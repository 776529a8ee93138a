// Emscripten's Module settings for the console page. A file, not an inline script: webhookd's
// Content-Security-Policy allows scripts from its own origin only (plus 'wasm-unsafe-eval').
var Module = {
  canvas: document.getElementById('canvas'),
  setStatus: function (text) {
    var el = document.getElementById('status');
    if (el) el.textContent = text;
  },
  onRuntimeInitialized: function () {
    var el = document.getElementById('status');
    if (el) el.remove();
  },
  onAbort: function (what) { Module.setStatus('The console stopped: ' + what); },
  printErr: function (text) { console.error(text); }
};
Module.canvas.addEventListener('contextmenu', function (e) { e.preventDefault(); });
