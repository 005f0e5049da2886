// hostgate console: live state without a reload (no inline script: the page's CSP allows only this file).
// Every second the status bar asks /console/status.json (cluster name, serving member, user); a page marked
// data-live fetches itself every two seconds and swaps its [data-live-region] parts, unless the user is busy
// in one (focus inside it). Neither poll is a person's activity: the status bar's asks the status page, a live
// page's carries X-Hostgate-Poll, so neither slides the console's idle timeout (console/sessions.py). A fetch
// that fails (the serving member died) is retried on the next tick: the browser reconnects through the alias to
// another member; the console session is valid on every member.
"use strict";
(function () {
  var bar = document.getElementById("statusbar");
  var conn = bar && bar.querySelector('[data-status="connection"]');
  function setText(name, value) {
    document.querySelectorAll('[data-status="' + name + '"]').forEach(function (el) {
      if (el.textContent !== value) { el.textContent = value; }
    });
  }
  var leaving = false;  // a form was sent (logout, a change): its answer navigates; polling must not race it
  document.addEventListener("submit", function () { leaving = true; document.body.setAttribute("data-leaving", "1"); });
  window.addEventListener("pageshow", function () { leaving = false; document.body.removeAttribute("data-leaving"); });
  function lost(yes) { if (conn) { conn.hidden = !yes; } }
  function status() {
    if (leaving) { return; }
    fetch("/console/status.json", { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401 && !leaving) { window.location.assign("/console/login?next=" + encodeURIComponent(window.location.pathname)); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (body) {
        if (!body) { return; }
        lost(false);
        var s = body.status_bar;
        setText("cluster", s.cluster); setText("member", s.member); setText("user", s.user); setText("profile", s.profile);
        var parts = document.title.split(" · ");
        if (parts.length === 3 && parts[1] !== s.cluster) { parts[1] = s.cluster; document.title = parts.join(" · "); }
      })
      .catch(function () { lost(true); });
  }
  function regions() {
    if (leaving) { return; }
    var path = document.body.getAttribute("data-live");
    if (!path) { return; }
    fetch(path + window.location.search, { headers: { Accept: "text/html", "X-Hostgate-Poll": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-region]").forEach(function (el) {
          var next = el.id && fresh.getElementById(el.id);
          if (!next || el.contains(document.activeElement)) { return; }
          if (el.innerHTML !== next.innerHTML) { el.innerHTML = next.innerHTML; }
        });
      })
      .catch(function () { lost(true); });
  }
  if (document.querySelector('[data-status="user"]')) {
    setInterval(status, 1000);
    setInterval(regions, 2000);
  }
})();
