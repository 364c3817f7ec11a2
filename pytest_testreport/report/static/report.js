/* Wires the page: charts, the test table's controls, failures (paged, opened on demand),
   the flaky and slow tables. All text goes in with textContent. */
"use strict";
(function () {
  var FAILURE_PAGE = 50;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var $ = function (id) { return document.getElementById(id); };

  function node(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  /* -- charts ------------------------------------------------------------------------------ */
  TRCharts.outcomeBars($("chart-outcomes"), data.history);
  TRCharts.durationLine($("chart-duration"), data.history);

  /* -- tests table ------------------------------------------------------------------------- */
  var table = new TRTable.Table({ scroll: $("table-scroll"), spacer: $("table-spacer"),
                                  body: $("table-body"), shown: $("shown-count") }, data.tests);
  var counts = {};
  for (var i = 0; i < data.tests.outcome.length; i++) {
    var letter = data.tests.outcome[i];
    counts[letter] = (counts[letter] || 0) + 1;
  }
  var boxes = {};
  "efXxsp".split("").forEach(function (letter) {
    table.enabled[letter] = true;
    if (!counts[letter]) return;
    var label = node("label", "o-" + TRTable.NAMES[letter]);
    var box = node("input");
    box.type = "checkbox";
    box.checked = true;
    box.value = TRTable.NAMES[letter];
    box.addEventListener("change", function () {
      table.enabled[letter] = box.checked;
      table.filter();
    });
    boxes[letter] = box;
    label.appendChild(box);
    label.appendChild(document.createTextNode(TRTable.NAMES[letter] + " " + counts[letter]));
    $("filters").appendChild(label);
  });

  /* Clicking a count in the header shows only that outcome (or everything, for "tests"). */
  Array.prototype.forEach.call(document.querySelectorAll("#counts .count"), function (item) {
    item.style.cursor = "pointer";
    item.addEventListener("click", function () {
      var wanted = item.getAttribute("data-outcome");
      Object.keys(table.enabled).forEach(function (letter) {
        var on = wanted === "all" || TRTable.NAMES[letter] === wanted;
        table.enabled[letter] = on;
        if (boxes[letter]) boxes[letter].checked = on;
      });
      table.filter();
      $("tests").scrollIntoView();
    });
  });

  var timer = null;
  $("search").addEventListener("input", function (event) {
    clearTimeout(timer);
    timer = setTimeout(function () {
      table.query = event.target.value;
      table.filter();
    }, 120);
  });

  var heads = document.querySelectorAll("#table-head button");
  function markSorted() {
    Array.prototype.forEach.call(heads, function (button) {
      var on = button.getAttribute("data-key") === table.sortKey;
      button.classList.toggle("sorted", on);
      button.classList.toggle("asc", on && table.ascending);
    });
  }
  Array.prototype.forEach.call(heads, function (button) {
    button.addEventListener("click", function () {
      table.sortBy(button.getAttribute("data-key"));
      markSorted();
    });
  });
  markSorted();
  table.filter();

  /* -- failures ---------------------------------------------------------------------------- */
  function block(body, heading, text, className) {
    if (!text) return;
    body.appendChild(node("h4", null, heading));
    body.appendChild(node("pre", className, text));
  }

  function fill(body, failure) {
    block(body, "message", failure.message);
    block(body, "traceback" + (failure.phase ? " (" + failure.phase + ")" : ""),
          failure.traceback, "traceback");
    if (failure.steps.length) {
      body.appendChild(node("h4", null, "steps"));
      var list = node("ul", "steps"), depth = {};
      failure.steps.forEach(function (step) {
        depth[step.id] = step.parent_id && depth[step.parent_id] !== undefined ? depth[step.parent_id] + 1 : 0;
        /* A step's failure repeats the test's message: its first line is enough here. */
        var why = step.failure ? step.failure.split("\n")[0] : "";
        var item = node("li", "st-" + step.result,
                        (step.keyword ? step.keyword + " " : "") + step.text + "  · " + step.result +
                        (step.duration !== null ? " · " + step.duration.toFixed(2) + " s" : "") +
                        (why ? " · " + (why.length > 160 ? why.slice(0, 160) + "…" : why) : ""));
        if (step.failure) item.title = step.failure;
        item.style.paddingLeft = depth[step.id] * 18 + "px";
        list.appendChild(item);
      });
      body.appendChild(list);
    }
    block(body, "captured stdout", failure.stdout);
    block(body, "captured stderr", failure.stderr);
    block(body, "captured log", failure.log);
  }

  var shownFailures = 0;
  function moreFailures() {
    var list = $("failure-list"), end = Math.min(data.failures.length, shownFailures + FAILURE_PAGE);
    for (var k = shownFailures; k < end; k++) {
      (function (failure) {
        var details = node("details", "failure " + failure.outcome);
        var summary = node("summary");
        summary.appendChild(TRTable.badge(failure.outcome === "error" ? "e" : "f"));
        summary.appendChild(node("span", "nodeid", failure.nodeid));
        if (failure.session !== undefined) {  /* a logical run: the shard it failed in */
          summary.appendChild(node("span", "shard", "session " + failure.session));
        }
        summary.appendChild(node("span", "msg", (failure.message || "").split("\n")[0]));
        details.appendChild(summary);
        /* The body is built when first opened: thousands of tracebacks stay out of the DOM. */
        details.addEventListener("toggle", function () {
          if (details.open && details.children.length === 1) {
            var body = node("div", "body");
            fill(body, failure);
            details.appendChild(body);
          }
        });
        list.appendChild(details);
      })(data.failures[k]);
    }
    shownFailures = end;
    var rest = data.failures.length - shownFailures;
    $("more-failures").hidden = rest <= 0;
    $("more-failures").textContent = "show " + Math.min(rest, FAILURE_PAGE) + " more (" + rest + " left)";
  }
  $("more-failures").addEventListener("click", moreFailures);
  if (data.failures.length) moreFailures();
  else $("failure-list").appendChild(node("p", "empty", "no failures or errors in this " + (data.session.run ? "run" : "session")));

  /* -- flaky and slow ---------------------------------------------------------------------- */
  function listTable(container, headers, rows, empty) {
    if (!rows.length) {
      container.appendChild(node("p", "empty", empty));
      return;
    }
    var tableNode = node("table", "list"), head = node("tr");
    headers.forEach(function (h) { head.appendChild(node("th", null, h)); });
    tableNode.appendChild(node("thead")).appendChild(head);
    var body = node("tbody");
    rows.forEach(function (cells) {
      var tr = node("tr");
      cells.forEach(function (c) {
        var td = node("td", c.className);
        if (c.child) td.appendChild(c.child);
        else td.textContent = c.text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    tableNode.appendChild(body);
    container.appendChild(tableNode);
  }

  listTable($("flaky-table"), ["test", "why", "history"], data.flaky.rows.map(function (f) {
    var why = [];
    if (f.reruns) why.push("passed on a rerun in " + f.reruns + (f.reruns === 1 ? " session" : " sessions"));
    if (f.revisions.length) why.push("passed and failed on " + f.revisions.join(", "));
    return [{ text: f.nodeid, className: "nodeid" }, { text: why.join("; ") },
            { child: TRTable.strip(f.strip) }];
  }), "no flaky tests in these sessions");
  if (data.flaky.more) {
    $("flaky-table").appendChild(node("p", "empty", "… and " + data.flaky.more +
      " more: pytest-testreport flaky lists them all"));
  }

  listTable($("slow-table"), ["test", "duration", "trend"], data.slow.map(function (s) {
    return [{ text: s.nodeid, className: "nodeid" }, { text: s.duration.toFixed(3) + " s" },
            { child: TRCharts.sparkline(s.trend) }];
  }), "no tests in this " + (data.session.run ? "run" : "session"));
})();
