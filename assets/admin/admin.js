// piivault operator console. Talks only to this server's API: GET /users (keyset
// pages, exact search), POST /exports/users (a JWE body made here with WebCrypto
// under the server's published RSA key). The admin token lives in sessionStorage.
"use strict";
(function () {
  var TOKEN_KEY = "piivault.adminToken";
  var $ = function (id) { return document.getElementById(id); };
  var grid = null;
  // Keyset cursors per (order, page size, search): cursors[n] is the `after` of page n.
  var cursors = { key: "", list: [null] };

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function api(path, options) {
    options = options || {};
    options.headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
    return fetch(path, options).then(function (response) {
      if (response.status === 401) { signOut("That token was refused."); throw new Error("unauthorized"); }
      return response;
    });
  }

  function searchParam(keyword) {
    var value = keyword.trim();
    if (value.indexOf("@") >= 0) return ["email", value];
    if (value.charAt(0) === "+") return ["phone", value];
    return ["national_id", value];
  }

  // Grid.js builds a pseudo URL ("grid?order=..&page=..&limit=..&q=..") through its
  // plugins; this turns it into keyset requests, walking forward for unseen pages.
  function load(options) {
    var params = new URLSearchParams(options.url.split("?")[1] || "");
    var order = params.get("order") || "newest";
    var page = Number(params.get("page") || 0);
    var limit = Number(params.get("limit") || 20);
    var q = params.get("q") || "";
    var key = [order, limit, q].join("|");
    if (cursors.key !== key) { cursors = { key: key, list: [null] }; }
    function fetchPage(n) {
      var query = new URLSearchParams({ order: order, limit: String(limit) });
      if (q) { var s = searchParam(q); query.set(s[0], s[1]); }
      if (cursors.list[n]) query.set("after", cursors.list[n]);
      return api("/users?" + query.toString()).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.message || "request failed"); }
          cursors.list[n + 1] = body.next || null;
          return body;
        });
      });
    }
    function walk(n) {
      if (n > page || cursors.list[page] !== undefined) return fetchPage(page);
      return fetchPage(n).then(function (body) {
        if (!body.next) return body;
        return walk(n + 1);
      });
    }
    var start = Math.min(page, cursors.list.length - 1);
    return (cursors.list[page] !== undefined ? fetchPage(page) : walk(start)).then(function (body) {
      $("total").textContent = body.total + (q ? " matching" : " users");
      return {
        data: body.users.map(function (u) {
          return [u.first_name + " " + u.last_name, u.email, u.phone || "", u.national_id || "",
                  u.date_of_birth || "", u.address || "", u.created_at.replace("T", " ").slice(0, 19)];
        }),
        total: body.total
      };
    }).catch(function (error) {
      $("total").textContent = error.message;
      return { data: [], total: 0 };
    });
  }

  function showGrid() {
    $("sign-in").hidden = true;
    $("console").hidden = false;
    $("sign-out").hidden = false;
    if (grid) { grid.forceRender(); return; }
    var plain = { sort: false };
    grid = new gridjs.Grid({
      columns: [
        Object.assign({ name: "Name" }, plain), Object.assign({ name: "Email" }, plain),
        Object.assign({ name: "Phone" }, plain), Object.assign({ name: "National id" }, plain),
        Object.assign({ name: "Born" }, plain), Object.assign({ name: "Address" }, plain),
        { name: "Created" }
      ],
      server: { url: "grid?", data: load },
      search: { server: { url: function (prev, keyword) { return prev + "&q=" + encodeURIComponent(keyword); } } },
      sort: {
        multiColumn: false,
        server: {
          url: function (prev, columns) {
            if (!columns.length) return prev;
            return prev + "&order=" + (columns[0].direction === 1 ? "oldest" : "newest");
          }
        }
      },
      pagination: {
        limit: 20,
        server: { url: function (prev, page, limit) { return prev + "&page=" + page + "&limit=" + limit; } }
      }
    }).render($("users"));
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("console").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
  }

  // --- JWE (RSA-OAEP-256 + A256GCM, compact) with WebCrypto ---
  function b64url(bytes) {
    var s = "";
    new Uint8Array(bytes).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function jwe(payload) {
    return fetch("/.well-known/jwks.json").then(function (r) { return r.json(); }).then(function (jwks) {
      var jwk = jwks.keys.filter(function (k) { return k.kty === "RSA" && k.alg === "RSA-OAEP-256"; })[0];
      if (!jwk) throw new Error("the server publishes no RSA-OAEP-256 key");
      var header = b64url(new TextEncoder().encode(JSON.stringify({ alg: "RSA-OAEP-256", enc: "A256GCM", kid: jwk.kid })));
      var cek = crypto.getRandomValues(new Uint8Array(32));
      var iv = crypto.getRandomValues(new Uint8Array(12));
      var publicJwk = { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RSA-OAEP-256", ext: true };
      return Promise.all([
        crypto.subtle.importKey("jwk", publicJwk, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["encrypt"]),
        crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["encrypt"])
      ]).then(function (keys) {
        return Promise.all([
          crypto.subtle.encrypt({ name: "RSA-OAEP" }, keys[0], cek),
          crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: new TextEncoder().encode(header) },
                                keys[1], new TextEncoder().encode(JSON.stringify(payload)))
        ]);
      }).then(function (parts) {
        var sealed = new Uint8Array(parts[1]);
        return [header, b64url(parts[0]), b64url(iv), b64url(sealed.slice(0, -16)), b64url(sealed.slice(-16))].join(".");
      });
    });
  }

  function exportUsers(event) {
    event.preventDefault();
    var password = $("export-password").value;
    var made = null;
    $("export-status").textContent = "Preparing the export...";
    jwe(password ? { password: password } : {}).then(function (body) {
      return api("/exports/users", { method: "POST", headers: { "Content-Type": "application/jose" }, body: body });
    }).then(function (response) {
      if (!response.ok) return response.json().then(function (e) { throw new Error(e.fields && e.fields.password ? "Password " + e.fields.password : e.message); });
      made = response.headers.get("Piivault-Export-Password");
      return response.blob();
    }).then(function (blob) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "piivault-users.pdf";
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
      $("export-password").value = "";
      $("export-status").textContent = made
        ? "Export downloaded. It opens with the password " + made + " (shown once: keep it now)."
        : "Export downloaded (opens with the password you chose).";
    }).catch(function (error) { $("export-status").textContent = error.message; });
  }

  $("sign-in").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem(TOKEN_KEY, value);
    api("/users?limit=1").then(function (response) {
      if (response.status === 403) { signOut("That token lacks the admin scope."); return; }
      $("sign-in-error").textContent = "";
      showGrid();
    }).catch(function () {});
  });
  $("sign-out").addEventListener("click", function () { signOut(""); });
  $("export").addEventListener("submit", exportUsers);
  if (token()) showGrid();
})();
