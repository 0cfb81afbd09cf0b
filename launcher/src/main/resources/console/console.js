// The operator console's script (no build step): it fetches the server-rendered view again every two seconds, keeps a
// short history of what it saw for two uPlot charts (backlog age per destination, a migration's jobs moved), and sends
// replays with fetch. The session is an HttpOnly cookie this script never sees; it sends nothing but same-origin requests.
(function () {
  "use strict";
  var REFRESH_MS = 2000;
  var KEEP = 300; // readings kept for the charts (10 minutes)
  var main = document.getElementById("view");
  var backlog = { xs: [], series: {}, chart: null, names: "" };
  var moved = { id: null, xs: [], ys: [], chart: null };
  var busy = false;

  function size() {
    return { width: Math.max(320, Math.min(900, main.clientWidth - 40)), height: 180 };
  }

  function recordBacklog(now) {
    var rows = main.querySelectorAll("tr.destination");
    var seen = {};
    backlog.xs.push(now);
    for (var i = 0; i < rows.length; i++) {
      var id = rows[i].getAttribute("data-destination");
      seen[id] = true;
      if (!backlog.series[id]) {
        backlog.series[id] = backlog.xs.map(function () { return null; });
        backlog.series[id].pop();
      }
      backlog.series[id].push(parseFloat(rows[i].getAttribute("data-age")));
    }
    Object.keys(backlog.series).forEach(function (id) {
      if (!seen[id]) { backlog.series[id].push(null); }
    });
    if (backlog.xs.length > KEEP) {
      backlog.xs.shift();
      Object.keys(backlog.series).forEach(function (id) { backlog.series[id].shift(); });
    }
  }

  function drawBacklog() {
    var holder = document.getElementById("backlog-chart");
    if (!holder) { return; }
    var names = Object.keys(backlog.series).sort();
    var data = [backlog.xs].concat(names.map(function (n) { return backlog.series[n]; }));
    if (!backlog.chart || backlog.names !== names.join("\n")) {
      if (backlog.chart) { backlog.chart.destroy(); }
      var colors = ["#2a6fdb", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#5c940d"];
      var s = size();
      backlog.chart = new uPlot({
        title: "backlog age per destination (s)", width: s.width, height: s.height,
        series: [{}].concat(names.map(function (n, i) { return { label: n, stroke: colors[i % colors.length], spanGaps: false }; })),
        axes: [{}, { size: 50 }]
      }, data, holder);
      backlog.names = names.join("\n");
    } else {
      holder.appendChild(backlog.chart.root);
      backlog.chart.setData(data);
    }
  }

  function drawMigration(now) {
    var progress = document.getElementById("migration-progress");
    var holder = document.getElementById("migration-chart");
    if (!progress || !holder) { return; }
    var id = progress.getAttribute("data-id");
    if (moved.id !== id) {
      if (moved.chart) { moved.chart.destroy(); moved.chart = null; }
      moved = { id: id, xs: [], ys: [], chart: null };
    }
    moved.xs.push(now);
    moved.ys.push(parseInt(progress.getAttribute("data-jobs-moved"), 10));
    if (moved.xs.length > KEEP) { moved.xs.shift(); moved.ys.shift(); }
    if (!moved.chart) {
      var s = size();
      moved.chart = new uPlot({
        title: "jobs moved by " + id, width: s.width, height: s.height,
        series: [{}, { label: "jobs moved", stroke: "#2a6fdb", fill: "rgba(42,111,219,0.1)" }],
        axes: [{}, { size: 60 }]
      }, [moved.xs, moved.ys], holder);
    } else {
      holder.appendChild(moved.chart.root);
      moved.chart.setData([moved.xs, moved.ys]);
    }
  }

  function afterRender() {
    var now = Date.now() / 1000;
    recordBacklog(now);
    drawBacklog();
    drawMigration(now);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  function refresh() {
    if (busy) { return Promise.resolve(); }
    busy = true;
    return fetch("/console/view", { credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (r) {
      if (r.status === 401) { window.location.reload(); return null; }
      if (!r.ok) { throw new Error("the console answered " + r.status); }
      return r.text();
    }).then(function (html) {
      if (html !== null) {
        main.innerHTML = html;
        afterRender();
      }
    }).catch(function (e) {
      document.getElementById("updated").textContent = "not updated: " + e.message;
    }).then(function () { busy = false; });
  }

  main.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("replay")) { return; }
    ev.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    button.textContent = "replaying…";
    fetch(form.getAttribute("action"), {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString()
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.error || ("replay answered " + r.status)); }
        button.textContent = "replayed " + body.replayed;
      });
    }).catch(function (e) {
      button.disabled = false;
      button.textContent = "replay";
      document.getElementById("updated").textContent = "replay failed: " + e.message;
    }).then(refresh);
  });

  afterRender();
  setInterval(refresh, REFRESH_MS);
})();
