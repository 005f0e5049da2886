// hostgate console: the Capture page (issue #22). The member drives the host through the capture engine; this
// file draws its screen as a grid of cells, sends keys and text as JSON actions (POST /console/capture/ACTION
// with the page's CSRF token in X-CSRF-Token), and turns a click into a cursor move and a drag over cells into
// an attribute (one row) or a recordset (several rows). Every form also works by typing the numbers. No inline
// script or style: the console's Content-Security-Policy allows only files of this origin.
"use strict";
(function () {
  var root = document.getElementById("capture");
  if (!root) { return; }
  var csrf = root.getAttribute("data-csrf");
  var queue = Promise.resolve();  // one request at a time: a host session is one terminal
  var state = null;
  var proposal = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function clearErrors(scope) {
    (scope || document).querySelectorAll("[data-error-for]").forEach(function (e) { e.textContent = ""; });
  }
  function showError(scope, err) {
    var field = err.field || "";
    var target = null;
    if (err.code === "HG-6601") { field = "rules"; }
    if (err.code === "HG-6602") { field = "name"; }
    if (scope && field) {
      var leaf = field.split(".").pop().replace(/\[\d+\]$/, "");
      target = scope.querySelector('[data-error-for="' + field + '"]') || scope.querySelector('[data-error-for="' + leaf + '"]');
    }
    if (!target && scope) { target = scope.querySelector('[data-error-for="form"]'); }
    var text = err.code + " " + err.message + (err.hint ? " — " + err.hint : "");
    if (target) { target.textContent = text; } else { status(text, true); }
  }
  function status(text, bad) {
    var s = $("cap-status");
    if (s) { s.textContent = text; s.className = "cap-status" + (bad ? " bad" : ""); }
  }

  function post(action, body, scope) {
    var run = function () {
      return fetch("/console/capture/" + action, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body || {})
      }).then(function (r) {
        if (r.status === 401) { window.location.assign("/console/login?next=/console/capture"); return null; }
        return r.json().then(function (j) { return { ok: r.ok, body: j }; });
      }).then(function (res) {
        if (!res) { return null; }
        if (scope) { clearErrors(scope); }
        if (!res.ok) { showError(scope, res.body); if (res.body.code === "HG-3385") { window.location.reload(); } return null; }
        if (res.body.capture && screen) { state = res.body.capture; draw(); }
        if (res.body.done) { status(res.body.done, false); }
        return res.body;
      }).catch(function () { status("the member did not answer; try again", true); return null; });
    };
    queue = queue.then(run, run);
    return queue;
  }

  // ---- the start form ----
  var start = $("start-form");
  if (start) {
    start.addEventListener("submit", function (ev) {
      ev.preventDefault();
      post("start", { host: $("start-host").value, type: $("start-type").value, terminal: $("start-terminal").value,
        model: $("start-model").value, resume: $("start-resume").value }, start)
        .then(function (b) { if (b) { window.location.reload(); } });
    });
    return;
  }
  if (root.getAttribute("data-state") !== "live") { return; }

  // ---- the screen ----
  var screen = $("screen");
  var sel = null;  // {r1, c1, r2, c2} while dragging / after
  var dragging = false;

  function draw() {
    var s = state.screen;
    var inField = {}, hidden = {};
    s.fields.forEach(function (f) {
      if (f.protected) { return; }
      for (var i = 0; i < f.length; i++) {
        var at = (f.row - 1) * s.cols + f.col - 1 + i;
        inField[at % (s.rows * s.cols)] = true;
        if (f.hidden) { hidden[at % (s.rows * s.cols)] = true; }
      }
    });
    var frag = document.createDocumentFragment();
    for (var r = 0; r < s.rows; r++) {
      var row = el("div", "caprow");
      var line = s.lines[r] || "";
      for (var c = 0; c < s.cols; c++) {
        var at = r * s.cols + c;
        var cell = el("span", "cell", line.charAt(c) || " ");
        cell.setAttribute("data-r", r + 1); cell.setAttribute("data-c", c + 1);
        if (inField[at]) { cell.className += " in"; }
        if (hidden[at]) { cell.className += " masked"; }
        if (s.cursor[0] === r + 1 && s.cursor[1] === c + 1) { cell.className += " cursor"; }
        if (sel && r + 1 >= Math.min(sel.r1, sel.r2) && r + 1 <= Math.max(sel.r1, sel.r2) &&
            c + 1 >= Math.min(sel.c1, sel.c2) && c + 1 <= Math.max(sel.c1, sel.c2)) { cell.className += " sel"; }
        row.appendChild(cell);
      }
      frag.appendChild(row);
    }
    screen.replaceChildren(frag);
    $("screen-text").textContent = s.lines.join("\n");
    $("screen-summary").textContent = s.rows + "×" + s.cols + " · cursor at row " + s.cursor[0] + ", column " + s.cursor[1] +
      (s.keyboard_locked ? " · keyboard locked" : "") + " · " + state.type + " host " + state.host + " (" + state.terminal + ")";
    $("cap-here").textContent = state.here ? "This screen is entity " + state.here + "." :
      "This screen is not captured yet." + (state.current ? " Inputs start from " + state.current + "." : "");
    var pend = $("pending");
    pend.replaceChildren();
    state.pending.forEach(function (p) {
      pend.appendChild(el("li", "", p.kind === "key" ? "key " + p.text : "typed " + (p.secret ? "**** (hidden field)" : JSON.stringify(p.text)) + " at " + p.row + "," + p.col));
    });
    if (!state.pending.length) { pend.appendChild(el("li", "help", "none")); }
    var ents = $("entities");
    ents.replaceChildren();
    state.entities.forEach(function (e) {
      var li = el("li", "", e.name);
      var d = el("span", "detail", " — " + [e.attributes.length + " attributes", e.recordsets.length + " recordsets"].concat(e.operations).join("; "));
      li.appendChild(d); ents.appendChild(li);
    });
    state.marked_attributes.concat(state.marked_recordsets).forEach(function (m) { ents.appendChild(el("li", "help", "marked here: " + m)); });
    var opForm = $("operation-form");
    opForm.hidden = !(state.here && state.pending.length && state.current);
    if (!opForm.hidden) { $("op-dest").textContent = state.here; }
    var keys = $("keys");
    if (!keys.childElementCount) {
      state.keys.forEach(function (k) {
        var b = el("button", "quiet key", k); b.type = "button";
        b.addEventListener("click", function () { flush(); post("key", { key: k }, root); screen.focus(); });
        keys.appendChild(b);
      });
      if (!state.block_mode) {
        var rb = el("button", "quiet key", "Refresh"); rb.type = "button";
        rb.addEventListener("click", function () { post("refresh", {}, root); });
        keys.appendChild(rb);
      }
    }
  }

  // typing: a burst of printable keys is sent as one text (one typed value), after a short quiet
  var typed = "", timer = null;
  function flush() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (typed) { var t = typed; typed = ""; post("type", { text: t }, root); }
  }
  screen.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var key = null;
    var m = /^F(\d{1,2})$/.exec(ev.key);
    if (m && +m[1] >= 1 && +m[1] <= 12) { key = "PF" + (+m[1] + (ev.shiftKey ? 12 : 0)); }
    else if (ev.key === "Enter") { key = "Enter"; }
    else if (ev.key === "Tab") { key = ev.shiftKey ? "Backtab" : "Tab"; }
    else if (ev.key === "Backspace") { key = "Backspace"; }
    else if (ev.key === "Escape" && !state.block_mode) { key = "Escape"; }
    else if (ev.key.indexOf("Arrow") === 0) { key = ev.key.slice(5); }
    else if (ev.key === "Home" || ev.key === "End" || ev.key === "Delete") { key = ev.key; }
    else if (ev.key.length === 1) {
      ev.preventDefault();
      typed += ev.key;
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(flush, 250);
      return;
    }
    if (key === null) { return; }
    ev.preventDefault();
    flush();
    if (state.keys.indexOf(key) < 0) { status(key + " is not a key of this host", true); return; }
    post("key", { key: key }, root);
  });

  function cellOf(ev) {
    var t = ev.target.closest ? ev.target.closest(".cell") : null;
    return t ? { r: +t.getAttribute("data-r"), c: +t.getAttribute("data-c") } : null;
  }
  screen.addEventListener("mousedown", function (ev) {
    var at = cellOf(ev); if (!at) { return; }
    ev.preventDefault(); screen.focus();
    dragging = true; sel = { r1: at.r, c1: at.c, r2: at.r, c2: at.c }; draw();
  });
  screen.addEventListener("mousemove", function (ev) {
    if (!dragging) { return; }
    var at = cellOf(ev); if (!at || (at.r === sel.r2 && at.c === sel.c2)) { return; }
    sel.r2 = at.r; sel.c2 = at.c; draw();
  });
  document.addEventListener("mouseup", function () {
    if (!dragging) { return; }
    dragging = false;
    var top = Math.min(sel.r1, sel.r2), bottom = Math.max(sel.r1, sel.r2);
    var left = Math.min(sel.c1, sel.c2), right = Math.max(sel.c1, sel.c2);
    if (top === bottom && left === right) {
      sel = null; flush();
      if (state.block_mode) { post("cursor", { row: top, col: left }, root); } else { draw(); }
      return;
    }
    if (top === bottom) {
      $("attr-row").value = top; $("attr-col").value = left; $("attr-length").value = right - left + 1;
      $("attr-name").focus();
    } else {
      $("rs-top").value = top; $("rs-bottom").value = bottom; $("rs-name").focus();
    }
  });

  function num(v) { return /^\s*\d+\s*$/.test(v) ? parseInt(v, 10) : v; }

  $("attribute-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target;
    // by id: a form's elements.length is its number of controls, not the field named "length"
    post("add-attribute", { name: $("attr-name").value, row: num($("attr-row").value), col: num($("attr-col").value),
      length: num($("attr-length").value), writable: $("attr-writable").checked }, f)
      .then(function (b) { if (b) { f.reset(); sel = null; draw(); } });
  });
  $("recordset-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target;
    post("add-recordset", { name: $("rs-name").value, top: num($("rs-top").value), bottom: num($("rs-bottom").value),
      next_page: $("rs-next").value }, f)
      .then(function (b) { if (b) { sel = null; draw(); } });
  });
  $("discard").addEventListener("click", function () { post("discard", {}, root); });
  $("end").addEventListener("click", function () { post("end", {}, root).then(function (b) { if (b) { window.location.reload(); } }); });

  // ---- value choices (an operation's typed values) ----
  function valueRows(box, values) {
    box.replaceChildren();
    values.forEach(function (v, i) {
      var row = el("div", "row wrap value");
      var id = box.id + "-k" + i;
      var lab = el("label", "", (v.secret ? "hidden value" : JSON.stringify(v.text)) + " at " + v.row + "," + v.col);
      lab.setAttribute("for", id);
      var sel2 = el("select"); sel2.id = id;
      ["literal", "parameter", "variable", "hidden"].forEach(function (k) {
        var o = el("option", "", k); o.value = k; if (k === v.kind) { o.selected = true; } sel2.appendChild(o);
      });
      if (v.secret) { sel2.value = "hidden"; sel2.disabled = true; }
      var name = el("input"); name.value = v.name; name.setAttribute("aria-label", "name for value " + (i + 1));
      name.autocomplete = "off";
      row.appendChild(lab); row.appendChild(sel2); row.appendChild(name);
      box.appendChild(row);
    });
  }
  function readValues(box) {
    return Array.prototype.map.call(box.querySelectorAll(".value"), function (row) {
      var k = row.querySelector("select").value;
      return { kind: k, name: k === "literal" ? "" : row.querySelector("input").value };
    });
  }

  var opForm = $("operation-form");
  $("op-name").addEventListener("change", function () {
    post("propose-operation", { name: $("op-name").value }, opForm).then(function (b) {
      if (b) { valueRows($("op-values"), b.operation.values); }
    });
  });
  opForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var name = $("op-name").value;
    var go = function () {
      post("add-operation", { name: name, choices: readValues($("op-values")) }, opForm).then(function (b) {
        if (b) { $("op-name").value = ""; $("op-values").replaceChildren(); }
      });
    };
    if (!$("op-values").childElementCount && state.pending.some(function (p) { return p.kind === "typed"; })) {
      post("propose-operation", { name: name }, opForm).then(function (b) { if (b) { valueRows($("op-values"), b.operation.values); go(); } });
    } else { go(); }
  });

  // ---- mark entity: the proposal ----
  var box = $("proposal");
  $("entity-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    flush();
    post("propose-entity", { name: $("entity-name").value }, ev.target).then(function (b) {
      if (!b) { return; }
      proposal = b.draft; showProposal();
    });
  });
  function showProposal() {
    var p = proposal;
    box.hidden = false;
    box.replaceChildren();
    box.appendChild(el("h3", "", "New entity " + p.name));
    var form = el("form"); form.noValidate = true; form.id = "proposal-form";
    form.appendChild(el("p", "help", "Rules (all must hold), one per line, as in the model file:"));
    var rules = el("textarea"); rules.id = "prop-rules"; rules.rows = Math.max(2, p.rules.length + 1);
    rules.value = p.rules.join("\n"); rules.setAttribute("aria-label", "Rules of " + p.name);
    form.appendChild(rules);
    var also = el("p", p.also_matches.length ? "bad" : "help", p.also_matches.length ?
      "These rules also match: " + p.also_matches.join(", ") + " — edit them: two entities never share rules." : "No other captured entity matches these rules.");
    also.id = "prop-also"; form.appendChild(also);
    var rulesErr = el("p", "field-error"); rulesErr.setAttribute("data-error-for", "rules"); form.appendChild(rulesErr);
    form.appendChild(el("h3", "", "Attributes"));
    var list = el("div"); list.id = "prop-attrs";
    p.attributes.forEach(function (a, i) {
      var row = el("div", "row wrap attr");
      var cb = el("input"); cb.type = "checkbox"; cb.checked = true; cb.id = "pa-" + i;
      var lab = el("label", "check", "(" + a.row + "," + a.col + ") ×" + a.length + (a.hidden ? " hidden" : a.writable ? " writable" : ""));
      lab.setAttribute("for", cb.id);
      var name = el("input"); name.value = a.name; name.setAttribute("aria-label", "name of the attribute at row " + a.row + ", column " + a.col);
      row.appendChild(cb); row.appendChild(lab); row.appendChild(name);
      row.setAttribute("data-attr", JSON.stringify(a));
      list.appendChild(row);
    });
    if (!p.attributes.length) { list.appendChild(el("p", "help", "none (drag over a region to add one)")); }
    form.appendChild(list);
    var attrErr = el("p", "field-error"); attrErr.setAttribute("data-error-for", "attributes"); form.appendChild(attrErr);
    p.recordsets.forEach(function (r) { form.appendChild(el("p", "", "Recordset " + r.name + ": rows " + r.top + "-" + r.bottom)); });
    if (p.operation) {
      form.appendChild(el("h3", "", "Operation of " + p.operation.source + " that led here"));
      var lab2 = el("label", "", "Operation name"); lab2.setAttribute("for", "prop-op");
      var op = el("input"); op.id = "prop-op"; op.value = p.operation.name; op.autocomplete = "off";
      form.appendChild(lab2); form.appendChild(op);
      var vals = el("div"); vals.id = "prop-values"; form.appendChild(vals);
      valueRows(vals, p.operation.values);
      var opErr = el("p", "field-error"); opErr.setAttribute("data-error-for", "operation"); form.appendChild(opErr);
    }
    var nameErr = el("p", "field-error"); nameErr.setAttribute("data-error-for", "name"); form.appendChild(nameErr);
    var formErr = el("div", "field-error"); formErr.setAttribute("data-error-for", "form"); form.appendChild(formErr);
    var add = el("button", "", "Add entity " + p.name); add.type = "submit";
    var cancel = el("button", "quiet", "Cancel"); cancel.type = "button";
    cancel.addEventListener("click", function () { box.hidden = true; box.replaceChildren(); proposal = null; });
    var bar = el("div", "row wrap"); bar.appendChild(add); bar.appendChild(cancel); form.appendChild(bar);
    rules.addEventListener("change", function () {
      post("check-rules", { name: p.name, rules: rules.value.split("\n").filter(function (l) { return l.trim(); }) }, form).then(function (b) {
        if (!b) { return; }
        also.className = b.also_matches.length ? "bad" : "help";
        also.textContent = b.also_matches.length ? "These rules also match: " + b.also_matches.join(", ") : "No other captured entity matches these rules.";
      });
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var attrs = [];
      form.querySelectorAll(".attr").forEach(function (row) {
        if (!row.querySelector("input[type=checkbox]").checked) { return; }
        var a = JSON.parse(row.getAttribute("data-attr"));
        attrs.push({ name: row.querySelector("input:not([type])").value, row: a.row, col: a.col, length: a.length, writable: a.writable });
      });
      var body = { name: p.name, rules: rules.value.split("\n").filter(function (l) { return l.trim(); }), attributes: attrs,
        recordsets: p.recordsets.map(function (r) { return { name: r.name, top: r.top, bottom: r.bottom, next_page: r.next_page, previous_page: r.previous_page, columns: r.columns.map(function (c) { return { name: c.name, col: c.col, length: c.length }; }) }; }) };
      if (p.operation) { body.operation = { name: $("prop-op").value, choices: readValues($("prop-values")) }; }
      post("add-entity", body, form).then(function (b) {
        if (b) { box.hidden = true; box.replaceChildren(); proposal = null; $("entity-name").value = ""; screen.focus(); }
      });
    });
    box.appendChild(form);
    rules.focus();
  }

  // first draw: the page's JSON twin
  fetch("/console/capture.json", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (b) { if (b.page && b.page.capture) { state = b.page.capture; draw(); screen.focus(); } });
})();
