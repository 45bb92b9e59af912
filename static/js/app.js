// Linkdesk's small client script: progressive enhancement only; every page
// works without it. Loaded as a file so the CSP needs no inline script.
//
//   - times: <time data-rel> reads "5 min ago" (exact time on hover),
//     <time data-exact> the exact time, <time data-hover> keeps its text
//     (a wait, a timeline's clock) with the exact time on hover, all in the staff member's time
//     zone (#app's data-tz); without this script they read in UTC.
//   - "/" focuses the header search from anywhere.
//   - filters (form[data-autosubmit]) apply as soon as a value changes.
//   - confirmations load into #modal as a <dialog> and open modally.
//   - live timeline entries (#timeline-live) move under their day heading.
//   - toasts can be dismissed; the copy button copies.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // ---- live streams end with the page ----
  // A page left for another (a full navigation, or the back/forward cache)
  // closes its event stream at once: browsers allow six connections per
  // host, and streams kept open by pages no longer shown would stall the
  // next page. A page restored from the cache reloads, to be current.
  var sources = [];
  if (window.htmx && htmx.createEventSource) {
    var make = htmx.createEventSource;
    htmx.createEventSource = function (url) {
      var s = make(url);
      sources = sources.filter(function (x) { return x.readyState !== 2; });
      sources.push(s);
      return s;
    };
  }
  window.addEventListener("pagehide", function () {
    sources.forEach(function (s) { s.close(); });
    sources = [];
  });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) location.reload(); });

  // ---- times ----
  function zone() {
    var app = document.getElementById("app");
    var tz = app && app.getAttribute("data-tz");
    try {
      if (tz) { new Intl.DateTimeFormat("en-GB", { timeZone: tz }); return tz; }
    } catch (e) { /* unknown zone: UTC */ }
    return "UTC";
  }
  function exact(d, tz) {
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    }).format(d);
  }
  function day(d, tz) {
    return new Intl.DateTimeFormat("en-GB", { timeZone: tz, day: "numeric", month: "short", year: "numeric" }).format(d);
  }
  function relative(d, now, tz) {
    var s = Math.round((now - d) / 1000), future = s < 0, a = Math.abs(s), n, unit;
    if (a < 45) return future ? "in a moment" : "just now";
    if (a < 45 * 60) { n = Math.max(1, Math.round(a / 60)); unit = "min"; }
    else if (a < 36 * 3600) { n = Math.round(a / 3600); unit = "h"; }
    else if (a < 14 * 86400) { n = Math.round(a / 86400); unit = n === 1 ? "day" : "days"; }
    else return day(d, tz);
    return future ? "in " + n + " " + unit : n + " " + unit + " ago";
  }
  function formatTimes(root) {
    var tz = zone(), now = Date.now();
    (root || document).querySelectorAll("time[data-rel], time[data-exact], time[data-hover]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      if (el.hasAttribute("data-rel")) {
        el.textContent = relative(d, now, tz);
        el.title = exact(d, tz);
      } else if (el.hasAttribute("data-hover")) {
        el.title = exact(d, tz);
      } else {
        el.textContent = exact(d, tz);
      }
    });
  }
  setInterval(function () { formatTimes(document); }, 30000);

  // ---- "/" focuses the search ----
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (document.querySelector("dialog[open]")) return;
    var q = document.getElementById("q");
    if (!q) return;
    ev.preventDefault();
    q.focus();
    q.select();
  });

  // ---- filters: clean URLs, applied on change ----
  // A GET filter form leaves its empty fields out of the URL (disabled
  // fields are not sent), so that a link to a list says only what it
  // filters on. Capture phase: before htmx reads the form.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches || !form.matches("form.filters") || (form.method || "").toLowerCase() !== "get") return;
    var off = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && !el.disabled && el.value === "" && el.type !== "checkbox" && el.type !== "submit") { el.disabled = true; off.push(el); }
    });
    setTimeout(function () { off.forEach(function (el) { el.disabled = false; }); }, 0);
  }, true);

  document.addEventListener("change", function (ev) {
    var form = ev.target.closest && ev.target.closest("form[data-autosubmit]");
    if (!form || !ev.target.name) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  // ---- confirmations ----
  function openDialog(root) {
    var dlg = root.querySelector("dialog");
    if (!dlg || dlg.open) return;
    var opener = document.activeElement;
    dlg.addEventListener("close", function () {
      dlg.remove();
      if (opener && document.body.contains(opener)) opener.focus();
    });
    dlg.showModal();
  }
  document.addEventListener("click", function (ev) {
    var dismiss = ev.target.closest("[data-dismiss]");
    if (dismiss) {
      var dlg = dismiss.closest("dialog");
      if (dlg) { ev.preventDefault(); dlg.close(); }
      return;
    }
    var toastClose = ev.target.closest("[data-dismiss-toast]");
    if (toastClose) {
      var toast = toastClose.closest(".toast");
      if (toast) toast.remove();
      return;
    }
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    ev.preventDefault();
    var text = btn.getAttribute("data-copy");
    var done = function () { var old = btn.textContent; btn.textContent = "Copied"; setTimeout(function () { btn.textContent = old; }, 1500); };
    if (navigator.clipboard) { navigator.clipboard.writeText(text).then(done, function () {}); }
  });
  // Print buttons (the income report): the page's print stylesheet drops
  // the controls.
  document.addEventListener("click", function (ev) {
    if (ev.target.closest("[data-print]")) { ev.preventDefault(); window.print(); }
  });

  // ---- live timeline entries ----
  function daySection(key, label) {
    var sec = document.createElement("section");
    sec.className = "timeline-day";
    sec.id = "tl-day-" + key;
    sec.setAttribute("data-day", key);
    var h = document.createElement("h3");
    h.className = "timeline-day-h";
    var t = document.createElement("time");
    t.setAttribute("datetime", key);
    t.textContent = label;
    h.appendChild(t);
    var ol = document.createElement("ol");
    ol.className = "timeline";
    sec.appendChild(h);
    sec.appendChild(ol);
    return sec;
  }
  function placeLive(staging) {
    var days = document.getElementById("timeline-days");
    if (!days) return;
    // The stream inserts newest first at the top: place oldest first.
    var items = Array.prototype.slice.call(staging.children).reverse();
    items.forEach(function (li) {
      var key = li.getAttribute("data-day");
      var sec = document.getElementById("tl-day-" + key);
      if (!sec) {
        sec = daySection(key, li.getAttribute("data-day-label"));
        var after = null;
        for (var i = 0; i < days.children.length; i++) {
          if ((days.children[i].getAttribute("data-day") || "") < key) { after = days.children[i]; break; }
        }
        days.insertBefore(sec, after);
      }
      var ol = sec.querySelector("ol.timeline");
      var at = li.getAttribute("data-at") || "", before = null;
      for (var j = 0; j < ol.children.length; j++) {
        if ((ol.children[j].getAttribute("data-at") || "") <= at) { before = ol.children[j]; break; }
      }
      li.classList.add("arrived");
      ol.insertBefore(li, before);
    });
    var empty = document.getElementById("timeline-empty");
    if (empty && items.length) empty.remove();
  }

  // ---- after every swap (page loads, htmx swaps, live messages) ----
  function settle(root) {
    formatTimes(root);
    var staging = document.getElementById("timeline-live");
    if (staging && staging.children.length) placeLive(staging);
    var toasts = document.getElementById("toasts");
    if (toasts) {
      while (toasts.children.length > 5) toasts.lastElementChild.remove();
    }
  }
  document.addEventListener("DOMContentLoaded", function () { settle(document); });
  document.addEventListener("htmx:afterSettle", function (ev) {
    settle(document);
    if (ev.target && ev.target.id === "modal") openDialog(ev.target);
  });
  document.addEventListener("htmx:sseMessage", function () { settle(document); });
})();
