/* Pinwheel Link iframe — sandbox emulator. Renders the screens the link-api returns
 * and relays its client events to the opening page with postMessage. */
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var token = params.get("token") || "";
  var parentOrigin = params.get("origin") || "*";
  var api = new URL("../link-api/", window.location.href).href;
  var app = document.getElementById("app");
  var sessionId = "";
  var lastError = null;
  var busy = false;

  function relay(events) {
    (events || []).forEach(function (ev) {
      if (ev.name === "error") lastError = ev.payload;
      if (window.parent && window.parent !== window) {
        window.parent.postMessage({ source: "pinwheel-emulator", name: ev.name, payload: ev.payload }, parentOrigin);
      }
    });
  }

  function request(method, path, body) {
    var init = { method: method, headers: { "Accept": "application/json" }, credentials: "omit" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(api + path, init).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        return { ok: resp.ok, data: data };
      });
    }).catch(function () {
      var err = { type: "networkError", code: "networkError", message: "Network error. Try again.", pendingRetry: false };
      return { ok: false, data: { screen: { name: "error", error: err }, events: [{ name: "error", payload: err }] } };
    });
  }

  function act(method, path, body) {
    if (busy) return Promise.resolve();
    busy = true;
    return request(method, path, body).then(function (res) {
      busy = false;
      var data = res.data || {};
      if (data.session_id) sessionId = data.session_id;
      relay(data.events);
      if (data.screen) render(data.screen);
    });
  }

  function post(action, body) {
    return act("POST", "sessions/" + encodeURIComponent(sessionId) + "/" + action, body || {});
  }

  function exit() {
    if (sessionId) {
      post("exit");
      return;
    }
    relay([{ name: "exit", payload: lastError || {} }]);
    render({ name: "exited" });
  }

  // ---- tiny DOM helpers (textContent only: no HTML from data) ----
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function show() {
    app.textContent = "";
    Array.prototype.forEach.call(arguments, function (c) { if (c) app.appendChild(c); });
  }
  function message(text) { return el("p", { id: "message", "class": "message", role: "alert", text: text || "" }); }
  function field(id, label, type, extra) {
    var input = el("input", Object.assign({ id: id, name: id, type: type }, extra || {}));
    return [el("label", { "for": id, text: label }), input];
  }

  // ---- screens ----
  var screens = {
    intro: function (s) {
      var btn = el("button", { type: "button", id: "continue", "class": "primary", text: "Continue" });
      btn.addEventListener("click", function () { post("continue"); });
      show(el("h1", { text: (s.org_name || "This app") + " uses Pinwheel to connect your payroll account" }),
        el("p", { "class": "muted", text: "Sandbox emulator: no real payroll data is used." }), btn);
    },
    search: function () {
      var input = el("input", { id: "search", type: "search", placeholder: "Search for your employer or payroll provider", autocomplete: "off" });
      var list = el("ul", { id: "results", "class": "results" });
      var timer = null;
      function run() {
        request("GET", "search?q=" + encodeURIComponent(input.value) + "&session_id=" + encodeURIComponent(sessionId))
          .then(function (res) {
            list.textContent = "";
            ((res.data && res.data.data) || []).forEach(function (r) {
              var b = el("button", { type: "button", "class": "result", "data-kind": r.response_type, "data-id": r.id },
                [document.createTextNode(r.name), el("small", { text: r.response_type })]);
              b.addEventListener("click", function () {
                post("select", r.response_type === "employer" ? { employer_id: r.id } : { platform_id: r.id });
              });
              list.appendChild(el("li", {}, [b]));
            });
          });
      }
      input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 120); });
      show(el("h1", { text: "Find your employer" }), el("label", { "for": "search", text: "Employer or payroll provider" }),
        input, list);
      run();
      input.focus();
    },
    login: function (s) {
      var name = s.employer ? s.employer.name : (s.platform ? s.platform.name : "your payroll provider");
      var form = el("form", { id: "login-form", novalidate: "" },
        field("username", "Username", "text", { autocomplete: "username" })
          .concat(field("password", "Password", "password", { autocomplete: "current-password" }))
          .concat([el("button", { type: "submit", id: "login-submit", "class": "primary", text: "Log in" })]));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        post("login", { username: form.username.value, password: form.password.value });
      });
      show(el("h1", { text: "Log in to " + name }),
        el("p", { "class": "hint", text: "Sandbox credentials: user_good / pass_good (also user_mfa, user_error, user_pending)." }),
        message(s.message), form);
      form.username.focus();
    },
    mfa: function (s) {
      var form = el("form", { id: "mfa-form", novalidate: "" },
        field("mfa-code", "Verification code", "text", { autocomplete: "one-time-code" })
          .concat([el("button", { type: "submit", id: "mfa-submit", "class": "primary", text: "Verify" })]));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        post("mfa", { code: form.querySelector("#mfa-code").value });
      });
      show(el("h1", { text: "Enter your verification code" }),
        el("p", { "class": "hint", text: "Sandbox code: mfa_code" }), message(s.message), form);
    },
    allocation: function (s) {
      var a = s.allocation || { targets: [] };
      var select = el("select", { id: "target", name: "target" });
      a.targets.forEach(function (t) {
        select.appendChild(el("option", { value: String(t.index), text: t.name + " (" + t.type + " " + t.masked_account_number + ")" }));
      });
      var form = el("form", { id: "allocation-form", novalidate: "" }, [el("label", { "for": "target", text: "Deposit to" }), select]);
      function radio(name, value, label, checked) {
        var input = el("input", { type: "radio", name: name, value: value, id: name + "-" + value });
        input.checked = !!checked;
        return el("label", { "class": "choice", "for": name + "-" + value }, [input, document.createTextNode(label)]);
      }
      var value = el("input", { id: "value", name: "value", type: "number", min: "0", step: "0.01" });
      if (a.fixed_type) {
        form.appendChild(el("p", { id: "fixed", text: "Amount per paycheck: $" + a.fixed_value }));
      } else {
        var actions = el("fieldset", {}, [el("legend", { text: "How much?" }), radio("action", "full_switch", "My entire paycheck", true)]);
        if (a.splitting_allowed) {
          actions.appendChild(radio("action", "partial_switch", "Part of my paycheck", false));
          actions.appendChild(radio("type", "amount", "A fixed amount ($)", true));
          if (a.percentage_supported) actions.appendChild(radio("type", "percentage", "A percentage (%)", false));
          actions.appendChild(radio("type", "remainder", "Whatever remains", false));
          actions.appendChild(el("label", { "for": "value", text: "Value" }));
          actions.appendChild(value);
          if (a.min_amount) actions.appendChild(el("p", { "class": "hint", text: "Minimum amount: $" + a.min_amount }));
        }
        form.appendChild(actions);
      }
      form.appendChild(el("button", { type: "submit", id: "allocation-submit", "class": "primary", text: "Confirm" }));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var body = { target_index: Number(select.value) };
        if (a.fixed_type) {
          body.action = "partial_switch";
        } else {
          var action = form.querySelector("input[name=action]:checked");
          body.action = action ? action.value : "full_switch";
          if (body.action === "partial_switch") {
            var type = form.querySelector("input[name=type]:checked");
            body.type = type ? type.value : "amount";
            if (body.type !== "remainder") body.value = Number(value.value);
          }
        }
        post("allocation", body);
      });
      show(el("h1", { text: "Choose your direct deposit" }), message(s.message), form);
    },
    success: function (s) {
      var btn = el("button", { type: "button", id: "done", "class": "primary", text: "Done" });
      btn.addEventListener("click", exit);
      var text = s.job === "direct_deposit_switch" ? "Your direct deposit was updated." : "Your account is connected.";
      show(el("h1", { "class": "success", text: "Success" }), el("p", { id: "success-text", text: text }), btn);
    },
    error: function (s) {
      var err = s.error || {};
      if (err.type) lastError = err;
      var btn = el("button", { type: "button", id: "exit", "class": "primary", text: "Close" });
      btn.addEventListener("click", exit);
      show(el("h1", { text: "Something went wrong" }),
        el("p", { id: "error-text", text: err.message || "Unknown error." }),
        el("p", { "class": "hint", text: (err.type || "") + (err.code ? " · " + err.code : "") }), btn);
    },
    exited: function () {
      show(el("p", { "class": "muted", text: "You can close this window." }));
    }
  };

  function render(screen) {
    var fn = screens[screen.name] || screens.error;
    fn(screen);
  }

  document.getElementById("close").addEventListener("click", exit);
  act("POST", "sessions", { link_token: token });
})();
