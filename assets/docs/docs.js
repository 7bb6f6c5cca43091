// Renders /openapi.json as a readable reference. Everything is built with DOM calls
// and textContent (no HTML strings), so nothing in the document can become markup.
"use strict";

(function () {
  var api = document.getElementById("api");
  var status = document.getElementById("status");
  var doc;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function resolve(ref) {
    if (!ref || typeof ref !== "object" || typeof ref.$ref !== "string") return ref;
    var parts = ref.$ref.replace(/^#\//, "").split("/");
    var node = doc;
    for (var i = 0; i < parts.length && node; i++) node = node[parts[i]];
    return node || {};
  }

  function refName(ref) {
    return ref && ref.$ref ? ref.$ref.split("/").pop() : null;
  }

  function schemaBlock(schema) {
    var name = refName(schema);
    var details = el("details", "schema");
    details.appendChild(el("summary", null, name ? "schema " + name : "schema"));
    details.appendChild(el("pre", null, JSON.stringify(resolve(schema), null, 2)));
    return details;
  }

  function table(headings, rows) {
    var t = el("table");
    var head = el("tr");
    headings.forEach(function (h) { head.appendChild(el("th", null, h)); });
    t.appendChild(head);
    rows.forEach(function (cells) {
      var tr = el("tr");
      cells.forEach(function (cell) {
        var td = el("td");
        if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    return t;
  }

  function operation(path, method, op) {
    var section = el("section", "operation");
    section.dataset.search = (method + " " + path + " " + (op["x-scope"] || "") + " " + (op.summary || "")).toLowerCase();
    var title = el("h3");
    title.appendChild(el("span", "method " + method, method.toUpperCase()));
    title.appendChild(el("code", "path", path));
    title.appendChild(el("span", "scope", op["x-scope"] ? "scope: " + op["x-scope"] : "no token"));
    section.appendChild(title);
    section.appendChild(el("p", "summary", op.summary));
    if (op.description) section.appendChild(el("p", null, op.description));
    if (op.parameters && op.parameters.length) {
      section.appendChild(el("h4", null, "Parameters"));
      section.appendChild(table(["name", "in", "schema", "description"], op.parameters.map(function (p) {
        p = resolve(p);
        return [p.name + (p.required ? " *" : ""), p.in, JSON.stringify(p.schema || {}), p.description || ""];
      })));
    }
    if (op.requestBody) {
      var body = resolve(op.requestBody);
      section.appendChild(el("h4", null, "Request body"));
      if (body.description) section.appendChild(el("p", null, body.description));
      Object.keys(body.content || {}).forEach(function (media) {
        section.appendChild(el("p", "media", media));
      });
      if (body["x-jwe-payload"]) {
        section.appendChild(el("p", null, "Decrypted payload:"));
        section.appendChild(schemaBlock(body["x-jwe-payload"]));
      } else {
        var first = Object.keys(body.content || {})[0];
        if (first && body.content[first].schema) section.appendChild(schemaBlock(body.content[first].schema));
      }
    }
    section.appendChild(el("h4", null, "Responses"));
    section.appendChild(table(["status", "meaning", "body"], Object.keys(op.responses || {}).map(function (code) {
      var response = resolve(op.responses[code]);
      var media = Object.keys(response.content || {});
      var cell = el("div");
      media.forEach(function (m) {
        cell.appendChild(el("div", "media", m));
        if (response.content[m].schema) cell.appendChild(schemaBlock(response.content[m].schema));
      });
      return [code, response.description || "", cell];
    })));
    return section;
  }

  function render() {
    status.remove();
    var info = el("section", "info");
    info.appendChild(el("p", null, doc.info.description));
    api.appendChild(info);
    var byTag = {};
    Object.keys(doc.paths).forEach(function (path) {
      Object.keys(doc.paths[path]).forEach(function (method) {
        var op = doc.paths[path][method];
        var tag = (op.tags && op.tags[0]) || "other";
        (byTag[tag] = byTag[tag] || []).push(operation(path, method, op));
      });
    });
    (doc.tags || []).forEach(function (tag) {
      if (!byTag[tag.name]) return;
      var group = el("section", "tag");
      group.appendChild(el("h2", null, tag.name));
      byTag[tag.name].forEach(function (section) { group.appendChild(section); });
      api.appendChild(group);
    });
  }

  document.getElementById("filter").addEventListener("input", function (event) {
    var needle = event.target.value.trim().toLowerCase();
    document.querySelectorAll(".operation").forEach(function (section) {
      section.hidden = needle !== "" && section.dataset.search.indexOf(needle) < 0;
    });
  });

  fetch("/openapi.json")
    .then(function (response) { return response.json(); })
    .then(function (json) { doc = json; render(); })
    .catch(function () { status.textContent = "Could not load /openapi.json."; });
})();
