/* Pinwheel Link — sandbox emulator. Defines window.Pinwheel with open() and close().
 * Served by the emulator, which fills in BASE (its public base URL) when it serves this file. */
(function () {
  "use strict";
  var BASE = "__PINWHEEL_EMULATOR_BASE__";
  var ORIGIN = new URL(BASE).origin;
  var SPECIAL = {
    login: "onLogin",
    login_attempt: "onLoginAttempt",
    success: "onSuccess",
    error: "onError",
    exit: "onExit"
  };
  var current = null;

  function call(fn, args) {
    if (typeof fn !== "function") return;
    try {
      fn.apply(null, args);
    } catch (err) {
      setTimeout(function () { throw err; });
    }
  }

  function close() {
    if (!current) return;
    window.removeEventListener("message", current.listener);
    if (current.overlay.parentNode) current.overlay.parentNode.removeChild(current.overlay);
    current = null;
  }

  function style(el, props) {
    for (var k in props) if (Object.prototype.hasOwnProperty.call(props, k)) el.style.setProperty(k, props[k]);
  }

  function open(options) {
    if (!options || typeof options.linkToken !== "string" || !options.linkToken) {
      throw new Error("Pinwheel.open: linkToken is required");
    }
    close();
    var overlay = document.createElement("div");
    overlay.setAttribute("data-pinwheel-link", "");
    style(overlay, {
      position: "fixed", inset: "0", "z-index": "2147483647", display: "flex",
      "align-items": "center", "justify-content": "center", background: "rgba(15, 23, 42, 0.55)"
    });
    var frame = document.createElement("iframe");
    frame.id = "pinwheel-link-frame";
    frame.title = "Pinwheel Link (sandbox emulator)";
    frame.setAttribute("allow", "clipboard-write");
    var parentOrigin = window.location.origin && window.location.origin !== "null" ? window.location.origin : "*";
    frame.src = BASE + "/link/?token=" + encodeURIComponent(options.linkToken) +
      "&origin=" + encodeURIComponent(parentOrigin);
    style(frame, {
      width: "min(420px, 100vw)", height: "min(640px, 100vh)", border: "0",
      "border-radius": "12px", background: "#fff", "box-shadow": "0 20px 50px rgba(0, 0, 0, 0.3)"
    });
    overlay.appendChild(frame);

    var state = { overlay: overlay, frame: frame, options: options, listener: null };
    state.listener = function (ev) {
      if (ev.origin !== ORIGIN || ev.source !== frame.contentWindow) return;
      var msg = ev.data;
      if (!msg || msg.source !== "pinwheel-emulator" || typeof msg.name !== "string") return;
      var payload = msg.payload && typeof msg.payload === "object" ? msg.payload : {};
      call(options.onEvent, [msg.name, payload]);
      var special = SPECIAL[msg.name];
      if (special) call(options[special], [payload]);
      if (msg.name === "exit" && current === state) close();
    };
    window.addEventListener("message", state.listener);
    current = state;
    document.body.appendChild(overlay);
  }

  window.Pinwheel = { open: open, close: close };
})();
