/* The test table: filter by outcome, search, sort; only the rows in view are in the DOM.
   Data arrive as columns (node ids, one letter per outcome, durations, attempts, strips), so
   100,000 tests cost arrays, not objects, and a filter is one pass over typed indexes.
   A logical run's page (html run:<id>) adds a column: the session (shard) each test ran in. */
"use strict";
var TRTable = (function () {
  var ROW = 28;      /* px; must match .row in report.css */
  var OVERSCAN = 12; /* rows drawn above and below the view, for smooth scrolling */
  var MAX_HEIGHT = 560; /* px of the scrolling area */
  var NAMES = { p: "passed", f: "failed", e: "error", s: "skipped", x: "xfailed", X: "xpassed",
                ".": "absent" };
  var SEVERITY = { e: 0, f: 1, X: 2, x: 3, s: 4, p: 5 };

  function strip(letters) {
    var box = document.createElement("span");
    box.className = "strip";
    for (var i = 0; i < letters.length; i++) {
      var cell = document.createElement("i");
      cell.className = "fill-" + NAMES[letters[i]];
      box.appendChild(cell);
    }
    box.title = "oldest → newest: " + letters.split("").map(function (c) { return NAMES[c]; })
      .join(", ");
    return box;
  }

  function badge(letter) {
    var span = document.createElement("span");
    span.className = "badge fill-" + NAMES[letter];
    span.textContent = NAMES[letter];
    return span;
  }

  function cell(className, text) {
    var div = document.createElement("div");
    div.className = className;
    div.textContent = text;
    return div;
  }

  function Table(parts, tests) {
    this.parts = parts;
    this.tests = tests;
    this.count = tests.nodeid.length;
    this.lower = null; /* lower-cased node ids, built on the first search */
    this.enabled = {};
    this.query = "";
    this.sortKey = "outcome";
    this.ascending = true;
    this.order = this.sorted();
    this.view = this.order;
    var self = this;
    parts.scroll.addEventListener("scroll", function () { self.draw(); }, { passive: true });
    window.addEventListener("resize", function () { self.draw(); });
  }

  Table.prototype.sorted = function () {
    var t = this.tests, key = this.sortKey, index = new Uint32Array(this.count);
    for (var i = 0; i < this.count; i++) index[i] = i;
    var byName = function (a, b) { return t.nodeid[a] < t.nodeid[b] ? -1 : t.nodeid[a] > t.nodeid[b] ? 1 : 0; };
    var compare;
    if (key === "nodeid") compare = byName;
    else if (key === "duration") compare = function (a, b) { return t.duration[a] - t.duration[b] || byName(a, b); };
    else if (key === "attempts") compare = function (a, b) { return t.attempts[a] - t.attempts[b] || byName(a, b); };
    else if (key === "session") compare = function (a, b) { return t.session[a] - t.session[b] || byName(a, b); };
    else compare = function (a, b) {
      return SEVERITY[t.outcome[a]] - SEVERITY[t.outcome[b]] || byName(a, b);
    };
    var sorted = Array.prototype.slice.call(index).sort(compare);
    if (!this.ascending) sorted.reverse();
    return Uint32Array.from(sorted);
  };

  Table.prototype.sortBy = function (key) {
    if (this.sortKey === key) this.ascending = !this.ascending;
    else { this.sortKey = key; this.ascending = key !== "duration" && key !== "attempts"; }
    this.order = this.sorted();
    this.filter();
  };

  /* Keep the rows whose outcome is enabled and whose node id contains every search word. */
  Table.prototype.filter = function () {
    var words = this.query.toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length && !this.lower) this.lower = this.tests.nodeid.map(function (n) { return n.toLowerCase(); });
    var out = new Uint32Array(this.order.length), n = 0, outcome = this.tests.outcome;
    for (var k = 0; k < this.order.length; k++) {
      var i = this.order[k];
      if (!this.enabled[outcome[i]]) continue;
      var ok = true;
      for (var w = 0; w < words.length && ok; w++) ok = this.lower[i].indexOf(words[w]) !== -1;
      if (ok) out[n++] = i;
    }
    this.view = out.subarray(0, n);
    this.parts.spacer.style.height = Math.max(n * ROW, 1) + "px";
    /* A short list takes only its own height; a long one scrolls inside the panel. */
    this.parts.scroll.style.height = Math.min(MAX_HEIGHT, Math.max(n, 2) * ROW + 2) + "px";
    this.parts.scroll.scrollTop = 0;
    this.parts.shown.textContent = n === this.count ? n + " tests" : n + " of " + this.count + " tests";
    this.drawn = null;
    this.draw();
  };

  Table.prototype.draw = function () {
    var scroll = this.parts.scroll, body = this.parts.body, t = this.tests;
    var first = Math.max(0, Math.floor(scroll.scrollTop / ROW) - OVERSCAN);
    var last = Math.min(this.view.length, Math.ceil((scroll.scrollTop + scroll.clientHeight) / ROW) + OVERSCAN);
    var key = first + ":" + last;
    if (this.drawn === key) return;
    this.drawn = key;
    var fragment = document.createDocumentFragment();
    for (var k = first; k < last; k++) {
      var i = this.view[k], row = document.createElement("div");
      row.className = "row grid o-" + NAMES[t.outcome[i]] + (t.session ? " with-session" : "");
      row.setAttribute("data-index", i);
      var outcome = document.createElement("div");
      outcome.appendChild(badge(t.outcome[i]));
      row.appendChild(outcome);
      var name = cell("nodeid", t.nodeid[i]);
      name.title = t.nodeid[i];
      name.textContent = "\u200e" + t.nodeid[i] + "\u200e"; /* rtl ellipsis keeps the name's end */
      row.appendChild(name);
      if (t.session) row.appendChild(cell("num session", String(t.session[i])));
      row.appendChild(cell("num", t.duration[i].toFixed(3) + " s"));
      row.appendChild(cell("num", String(t.attempts[i])));
      var history = document.createElement("div");
      history.appendChild(strip(t.strip[i]));
      row.appendChild(history);
      fragment.appendChild(row);
    }
    if (!last) {
      fragment.appendChild(cell("empty", this.count ? "no test matches" : (t.session ? "no tests in this run" : "no tests in this session")));
    }
    body.style.transform = "translateY(" + first * ROW + "px)";
    body.replaceChildren(fragment);
  };

  return { Table: Table, NAMES: NAMES, strip: strip, badge: badge };
})();
