/* Inline SVG charts of the report: outcome bars per session, duration line, sparklines.
   Drawn with DOM calls only (no innerHTML), so branch names and revisions stay text. */
"use strict";
var TRCharts = (function () {
  var NS = "http://www.w3.org/2000/svg";
  var STACK = ["passed", "skipped", "error", "failed"];

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function title(node, text) {
    el("title", {}, node).textContent = text;
  }

  function svg(width, height) {
    return el("svg", { viewBox: "0 0 " + width + " " + height, preserveAspectRatio: "none",
                       role: "img" });
  }

  function label(session) {
    var when = (session.started_at || "").replace("T", " ").slice(0, 16);
    /* A logical run's entry names the run and its sessions (shards). */
    var name = session.run ? "run " + session.run.slice(4) + " (sessions " +
      session.sessions.join(", ") + ")" : "session " + session.id;
    return name + (session.branch ? " on " + session.branch : "") +
      (session.revision ? " @ " + session.revision.slice(0, 8) : "") + "\n" + when;
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    var step = Math.pow(10, Math.floor(Math.log10(value)));
    var ticks = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < ticks.length; i++) if (ticks[i] * step >= value) return ticks[i] * step;
    return 10 * step;
  }

  function frame(root, width, height, pad, max, unit) {
    [0, 0.5, 1].forEach(function (f) {
      var y = height - pad.bottom - f * (height - pad.top - pad.bottom);
      el("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, "class": "grid" }, root);
      var text = el("text", { x: pad.left - 4, y: y + 3, "text-anchor": "end", "class": "axis" }, root);
      text.textContent = formatNumber(max * f) + unit;
    });
  }

  function formatNumber(value) {
    if (value >= 1000) return (value / 1000).toFixed(value >= 10000 ? 0 : 1) + "k";
    return value % 1 ? value.toFixed(1) : String(value);
  }

  /* Stacked outcome counts, one bar per session, oldest left; the reported session outlined. */
  function outcomeBars(container, sessions) {
    var width = 600, height = 150, pad = { left: 34, right: 6, top: 8, bottom: 8 };
    var root = svg(width, height);
    var max = niceMax(Math.max.apply(null, sessions.map(function (s) {
      return STACK.reduce(function (sum, k) { return sum + (s[k] || 0); }, 0);
    }).concat([1])));
    frame(root, width, height, pad, max, "");
    var slot = (width - pad.left - pad.right) / Math.max(sessions.length, 1);
    var barWidth = Math.max(2, Math.min(28, slot * 0.7));
    var scale = (height - pad.top - pad.bottom) / max;
    sessions.forEach(function (s, i) {
      var x = pad.left + i * slot + (slot - barWidth) / 2;
      var y = height - pad.bottom;
      var group = el("g", { "class": "bar", "data-session": s.id }, root);
      title(group, label(s) + "\n" + STACK.map(function (k) { return (s[k] || 0) + " " + k; })
        .join(", "));
      STACK.forEach(function (k) {
        var h = (s[k] || 0) * scale;
        if (h <= 0) return;
        y -= h;
        el("rect", { x: x, y: y, width: barWidth, height: h, "class": "fill-" + k }, group);
      });
      if (i === sessions.length - 1) {
        el("rect", { x: x - 2, y: pad.top - 2, width: barWidth + 4,
                     height: height - pad.top - pad.bottom + 4, "class": "current" }, group);
      }
    });
    container.appendChild(root);
    var legend = document.createElement("div");
    legend.className = "legend";
    STACK.slice().reverse().forEach(function (k) {
      var item = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.className = "fill-" + k;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(k));
      legend.appendChild(item);
    });
    container.appendChild(legend);
  }

  /* Total duration per session as a line with a dot per session (gaps where unknown). */
  function durationLine(container, sessions) {
    var width = 400, height = 150, pad = { left: 40, right: 8, top: 8, bottom: 8 };
    var root = svg(width, height);
    var values = sessions.map(function (s) { return s.duration; });
    var known = values.filter(function (v) { return v !== null && v !== undefined; });
    var max = niceMax(Math.max.apply(null, known.concat([0.001])));
    frame(root, width, height, pad, max, " s");
    var slot = (width - pad.left - pad.right) / Math.max(sessions.length, 1);
    var scale = (height - pad.top - pad.bottom) / max;
    var points = [];
    values.forEach(function (v, i) {
      if (v === null || v === undefined) return;
      var x = pad.left + i * slot + slot / 2, y = height - pad.bottom - v * scale;
      points.push(x.toFixed(1) + "," + y.toFixed(1));
      var dot = el("circle", { cx: x, cy: y, r: 3, "class": "dot" }, root);
      title(dot, label(sessions[i]) + "\n" + v.toFixed(2) + " s");
    });
    if (points.length > 1) el("polyline", { points: points.join(" "), "class": "line" }, root)
      .setAttribute("vector-effect", "non-scaling-stroke");
    container.appendChild(root);
  }

  /* A small trend line of durations (null where the test did not run). */
  function sparkline(values) {
    var width = 160, height = 24, root = svg(width, height);
    var known = values.filter(function (v) { return v !== null; });
    var max = Math.max.apply(null, known.concat([0.001]));
    var step = width / Math.max(values.length - 1, 1);
    var points = [];
    values.forEach(function (v, i) {
      if (v === null) return;
      points.push((i * step).toFixed(1) + "," + (height - 2 - (v / max) * (height - 4)).toFixed(1));
    });
    el("polyline", { points: points.join(" "), fill: "none", stroke: "#3355cc",
                     "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" }, root);
    title(root, values.map(function (v) { return v === null ? "-" : v.toFixed(2) + " s"; })
      .join(" → "));
    return root;
  }

  return { outcomeBars: outcomeBars, durationLine: durationLine, sparkline: sparkline };
})();
