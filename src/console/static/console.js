// Draws the overview's charts with Chart.js (served from PGB's own node_modules). The figures are in
// the page's tables too, so the page is complete without this script.
(function () {
  var source = document.getElementById("overview-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var palette = ["#0b5cad", "#1a7f37", "#b42318", "#9a6700", "#8250df", "#57606a"];
  var hours = Array.from(
    new Set(
      data.hourly.map(function (r) {
        return r.hour;
      }),
    ),
  ).sort();
  var pgs = Array.from(
    new Set(
      data.hourly.map(function (r) {
        return r.pg;
      }),
    ),
  ).sort();
  var datasets = [];
  ["started", "paid", "failed"].forEach(function (kind, k) {
    pgs.forEach(function (pg, p) {
      datasets.push({
        label: pg + " " + data.labels[kind],
        data: hours.map(function (h) {
          var row = data.hourly.find(function (r) {
            return r.hour === h && r.pg === pg;
          });
          return row ? row[kind] : 0;
        }),
        borderColor: palette[(k * pgs.length + p) % palette.length],
        backgroundColor: palette[(k * pgs.length + p) % palette.length],
        tension: 0.2,
      });
    });
  });
  var common = { responsive: true, maintainAspectRatio: false, animation: false };
  new Chart(document.getElementById("chart-hourly"), {
    type: "line",
    data: {
      labels: hours.map(function (h) {
        return h.slice(5, 13).replace("T", " ") + "h";
      }),
      datasets: datasets,
    },
    options: common,
  });
  new Chart(document.getElementById("chart-conversion"), {
    type: "bar",
    data: {
      labels: data.perPg.map(function (r) {
        return r.pg;
      }),
      datasets: [
        {
          label: data.labels.conversion + " %",
          data: data.perPg.map(function (r) {
            return Math.round(r.conversion * 1000) / 10;
          }),
          backgroundColor: "#1a7f37",
        },
      ],
    },
    options: Object.assign({}, common, { scales: { y: { min: 0, max: 100 } } }),
  });
})();
