// The Web Services Explorer (#19): lists the deployed models (GET /ws/v1/models), shows a model's procedures
// with their inputs and outputs, links its OpenAPI document and WSDL, and tries a call
// (POST /ws/v1/models/{model}/procedures/{procedure}). Served with a CSP without inline script: everything
// is built with DOM calls and textContent (no innerHTML: names and values come from models and hosts).
"use strict";

(function () {
  const WS = "/ws";
  const AUTH_KEY = "hostgate.ws.authorization";
  let catalogs = [];

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function authorization() {
    return sessionStorage.getItem(AUTH_KEY);
  }

  function headers(extra) {
    const found = Object.assign({ Accept: "application/json" }, extra || {});
    const auth = authorization();
    if (auth) found.Authorization = auth;
    return found;
  }

  // A coded hostgate error (problem+json or {"code","message","hint"}), or a plain description.
  async function problemOf(resp) {
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (body && typeof body === "object" && body.code) {
      return { code: body.code, message: body.message || body.detail || "", hint: body.hint || "" };
    }
    return { code: "HTTP " + resp.status, message: resp.statusText || "the server answered an error", hint: "" };
  }

  function problemNode(problem) {
    return el(
      "div",
      { class: "problem", role: "alert" },
      el("p", {}, el("code", { text: problem.code }), " " + problem.message),
      problem.hint ? el("p", { text: problem.hint }) : null,
    );
  }

  function pathPart(value) {
    return encodeURIComponent(value);
  }

  // --- sign-in -------------------------------------------------------------------------------------------

  function showSignedIn(user) {
    $("signout").hidden = !user;
    $("signin-status").textContent = user ? "Signed in as " + user + "." : "";
  }

  function signIn(event) {
    event.preventDefault();
    const user = $("signin-user").value;
    const password = $("signin-password").value;
    // btoa needs Latin-1: encode UTF-8 first (RFC 7617 section 2.1, charset UTF-8).
    const raw = new TextEncoder().encode(user + ":" + password);
    let binary = "";
    raw.forEach((b) => { binary += String.fromCharCode(b); });
    sessionStorage.setItem(AUTH_KEY, "Basic " + btoa(binary));
    sessionStorage.setItem(AUTH_KEY + ".user", user);
    $("signin-password").value = "";
    showSignedIn(user);
    loadModels();
  }

  function signOut() {
    sessionStorage.removeItem(AUTH_KEY);
    sessionStorage.removeItem(AUTH_KEY + ".user");
    catalogs = [];
    showSignedIn("");
    $("models").replaceChildren();
    $("models-status").textContent = "Signed out. Sign in to list the deployed models.";
    $("main").replaceChildren(el("p", { class: "placeholder", text: "Choose a model to see its procedures." }));
  }

  // --- models --------------------------------------------------------------------------------------------

  async function loadModels() {
    const status = $("models-status");
    status.textContent = "Loading the deployed models...";
    let resp;
    try {
      resp = await fetch(WS + "/v1/models", { headers: headers(), credentials: "omit" });
    } catch (e) {
      status.textContent = "The web services did not answer: " + e;
      return;
    }
    if (!resp.ok) {
      const problem = await problemOf(resp);
      status.replaceChildren(problemNode(problem));
      return;
    }
    catalogs = await resp.json();
    const list = $("models");
    list.replaceChildren(
      ...catalogs.map((c) =>
        el(
          "li",
          {},
          el("a", { href: "#model=" + pathPart(c.model), "data-model": c.model, text: c.model }),
          c.error ? el("span", { class: "err", text: "unavailable" }) : null,
        ),
      ),
    );
    status.textContent = catalogs.length
      ? catalogs.length + (catalogs.length === 1 ? " model deployed." : " models deployed.")
      : "No model is deployed (or none you may use).";
    showFromHash(false);
  }

  function showFromHash(focus) {
    const match = /^#model=(.*)$/.exec(location.hash);
    if (!match) return;
    const name = decodeURIComponent(match[1]);
    const catalog = catalogs.find((c) => c.model === name);
    if (catalog) showModel(catalog, focus);
  }

  function typeTable(caption, rows, withRequired) {
    const head = el("tr", {}, el("th", { scope: "col", text: "name" }), el("th", { scope: "col", text: "type" }));
    if (withRequired) head.append(el("th", { scope: "col", text: "required" }));
    const body = rows.map((r) => {
      const tr = el("tr", {}, el("td", {}, el("code", { text: r.name })), el("td", { text: r.type }));
      if (withRequired) tr.append(el("td", { text: r.required ? "yes" : "no" }));
      return tr;
    });
    return el(
      "div",
      { class: "scroll" },
      el("table", {}, el("caption", { text: caption }), el("thead", {}, head), el("tbody", {}, ...body)),
    );
  }

  function showModel(catalog, focus) {
    for (const link of document.querySelectorAll("#models a")) {
      if (link.dataset.model === catalog.model) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const main = $("main");
    const model = pathPart(catalog.model);
    const parts = [
      el("h2", { id: "model-title", text: catalog.model }),
      catalog.description ? el("p", { text: catalog.description }) : null,
      catalog.digest ? el("p", { class: "digest", text: "digest " + catalog.digest }) : null,
      el(
        "p",
        { class: "links" },
        el("a", { href: WS + "/v1/models/" + model + "/openapi.json", text: "OpenAPI 3.1 document" }),
        el("a", { href: WS + "/soap/" + model + "?wsdl", text: "WSDL (SOAP 1.1)" }),
      ),
    ];
    if (catalog.error) {
      parts.push(el("p", { class: "error-note", role: "alert", text: catalog.error }));
    }
    if (!catalog.procedures.length && !catalog.error) {
      parts.push(el("p", { text: "This model has no procedures." }));
    }
    for (const procedure of catalog.procedures) parts.push(procedureNode(catalog, procedure));
    main.replaceChildren(...parts);
    document.title = catalog.model + " · Web Services Explorer · hostgate";
    if (focus) main.focus();
  }

  function procedureNode(catalog, procedure) {
    const id = "proc-" + procedure.name;
    const inputs = procedure.inputs.map((i) => ({ name: i.column, type: i.type, required: i.required }));
    const section = el(
      "section",
      { class: "procedure", "aria-labelledby": id },
      el(
        "h3",
        { id: id },
        procedure.name,
        el("span", { class: "kind", text: " " + procedure.type + " on " + procedure.table }),
      ),
      procedure.description ? el("p", { text: procedure.description }) : null,
      inputs.length ? typeTable("Inputs of " + procedure.name, inputs, true) : el("p", { text: "No inputs." }),
      typeTable("Outputs of " + procedure.name, procedure.outputs, false),
    );
    section.append(tryForm(catalog, procedure));
    return section;
  }

  // --- trying a call -------------------------------------------------------------------------------------

  function tryForm(catalog, procedure) {
    const prefix = "try-" + procedure.name + "-";
    const fields = el("div", { class: "fields" });
    for (const input of procedure.inputs) {
      const numeric = input.type === "integer" || input.type === "decimal";
      fields.append(
        el("label", { for: prefix + input.column, text: input.column + (input.required ? " (required)" : "") }),
        el("input", {
          id: prefix + input.column,
          name: input.column,
          required: input.required,
          inputmode: input.type === "integer" ? "numeric" : input.type === "decimal" ? "decimal" : false,
          pattern: input.type === "integer" ? "-?[0-9]+" : input.type === "decimal" ? "-?[0-9]+([.][0-9]+)?" : false,
          autocomplete: "off",
          "data-type": input.type,
          "aria-describedby": numeric ? prefix + "hint" : false,
        }),
      );
    }
    const result = el("div", { class: "result", role: "status", "aria-live": "polite" });
    const form = el(
      "form",
      { class: "try", "aria-label": "Try " + procedure.name },
      el("h4", { text: "Try it" }),
      procedure.inputs.some((i) => i.type !== "string")
        ? el("p", { id: prefix + "hint", class: "note", text: "Numbers as digits; decimals with a point." })
        : null,
      fields,
      el("button", { type: "submit", text: "Call " + procedure.name }),
      result,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      call(catalog, procedure, form, result);
    });
    return form;
  }

  function inputsOf(procedure, form) {
    const body = {};
    for (const input of procedure.inputs) {
      const value = form.elements.namedItem(input.column).value;
      if (value === "") continue; // left out: the procedure's default (a required one is refused coded)
      // Integers as JSON numbers; decimals as strings (no digit lost, as everywhere in hostgate).
      body[input.column] = input.type === "integer" && /^-?[0-9]+$/.test(value) ? Number(value) : value;
    }
    return body;
  }

  async function call(catalog, procedure, form, result) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    result.replaceChildren(el("p", { text: "Calling " + procedure.name + "..." }));
    const url = WS + "/v1/models/" + pathPart(catalog.model) + "/procedures/" + pathPart(procedure.name);
    try {
      const resp = await fetch(url, {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(inputsOf(procedure, form)),
        credentials: "omit",
      });
      if (!resp.ok) {
        result.replaceChildren(problemNode(await problemOf(resp)));
        return;
      }
      result.replaceChildren(...rowsNodes(procedure, await resp.json()));
    } catch (e) {
      result.replaceChildren(problemNode({ code: "network", message: String(e), hint: "" }));
    } finally {
      button.disabled = false;
    }
  }

  // {"columns": [...], "rows": [{...}] or [[...]]} (also "records", the session face's name for rows).
  function rowsNodes(procedure, answer) {
    const rows = (answer && (answer.rows || answer.records)) || (Array.isArray(answer) ? answer : []);
    let columns = (answer && answer.columns) || procedure.outputs.map((o) => o.name);
    if (!columns.length && rows.length && !Array.isArray(rows[0])) columns = Object.keys(rows[0]);
    const count = el("p", { class: "ok", text: rows.length + (rows.length === 1 ? " row." : " rows.") });
    if (!rows.length) return [count];
    const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: c })));
    const body = rows.map((row) =>
      el(
        "tr",
        {},
        ...columns.map((c, i) => {
          const value = Array.isArray(row) ? row[i] : row[c];
          return el("td", { text: value === null || value === undefined ? "" : String(value) });
        }),
      ),
    );
    const table = el(
      "table",
      {},
      el("caption", { text: "Rows of " + procedure.name }),
      el("thead", {}, head),
      el("tbody", {}, ...body),
    );
    return [count, el("div", { class: "scroll" }, table)];
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
    window.addEventListener("hashchange", () => showFromHash(true));
    const user = sessionStorage.getItem(AUTH_KEY + ".user");
    if (authorization()) {
      showSignedIn(user || "");
      loadModels();
    }
  });
})();
