// The public launch page: opens Pinwheel Link with the token the page carries
// in data attributes (no inline script: the CSP forbids it) and reports every
// Link event, in order, to POST /l/{id}/events.
(function () {
  "use strict";
  var root = document.getElementById("launch");
  if (!root) return;
  var token = root.getAttribute("data-link-token") || "";
  var eventsURL = root.getAttribute("data-events-url") || "";
  var button = document.getElementById("launch-open");
  var status = document.getElementById("launch-status");
  var done = false;
  var exited = false;
  var queue = Promise.resolve();

  function say(text) { if (status) status.textContent = text; }

  // report posts one event after the previous one, so they arrive in order.
  function report(name, payload) {
    if (!eventsURL || typeof name !== "string") return;
    var body = JSON.stringify({ name: name, payload: payload && typeof payload === "object" ? payload : {} });
    queue = queue.then(function () {
      return fetch(eventsURL, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: body,
        credentials: "same-origin",
        keepalive: body.length < 60000
      }).catch(function () {});
    });
  }

  var seen = {}; // event name -> when onEvent last reported it

  function onEvent(name, payload) {
    seen[name] = Date.now();
    report(name, payload);
    show(name);
  }

  // fallback reports an event through its specialised callback only when
  // onEvent did not (Link calls onEvent first for every event; this covers
  // an SDK version that would not).
  function fallback(name) {
    return function (payload) {
      setTimeout(function () {
        if (seen[name] && Date.now() - seen[name] < 2000) return;
        onEvent(name, payload);
      }, 0);
    };
  }

  function show(name) {
    switch (name) {
      case "open":
        say("");
        break;
      case "success":
        done = true;
        say("Done. You can close this page.");
        if (button) button.hidden = true;
        break;
      case "exit":
        if (!done) {
          exited = true;
          say("Closed before finishing. You can open it again.");
          if (button) { button.hidden = false; button.textContent = "Open again"; }
        }
        break;
    }
  }

  function open() {
    if (done) return;
    if (exited) {
      // Reload: the server decides whether the token can be reused or a
      // new one must be minted (a link that mints on open).
      window.location.reload();
      return;
    }
    if (!window.Pinwheel || typeof window.Pinwheel.open !== "function") {
      say("The secure connection could not be loaded. Check your internet connection and reload this page.");
      return;
    }
    if (button) button.hidden = true;
    window.Pinwheel.open({
      linkToken: token,
      onEvent: onEvent,
      onLogin: fallback("login"),
      onSuccess: fallback("success"),
      onError: fallback("error"),
      onExit: fallback("exit")
    });
  }

  if (button) button.addEventListener("click", open);
  if (root.getAttribute("data-auto-open") === "true") open();
})();
