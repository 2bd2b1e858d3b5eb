/* 健康甘肃: progressive enhancement only — every page works without this file. */
(function () {
  "use strict";

  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }

  var chartsLoading = null;
  function loadCharts(src) {
    if (window.echarts) { return Promise.resolve(window.echarts); }
    if (!chartsLoading) {
      chartsLoading = new Promise(function (resolve, reject) {
        var tag = document.createElement("script");
        tag.src = src;
        tag.onload = function () { resolve(window.echarts); };
        tag.onerror = reject;
        document.head.appendChild(tag);
      });
    }
    return chartsLoading;
  }

  var PALETTE = ["#0b6e4f", "#1f4fd1", "#a4161a"];

  function barOptions(data) {
    return {
      aria: { enabled: true }, animation: false, color: PALETTE,
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 40, bottom: 80 },
      tooltip: { trigger: "axis", renderMode: "richText" },
      xAxis: { type: "category", data: data.categories, axisLabel: { rotate: 40, interval: 0 } },
      yAxis: { type: "value", name: data.unit, max: 100 },
      series: data.series.map(function (s) {
        return { type: "bar", name: s.name, data: s.data };
      })
    };
  }

  function lineOptions(data) {
    var series = [{
      type: "line", name: data.label, data: data.points, symbolSize: 8,
      lineStyle: { width: 3 }, itemStyle: { color: "#0b6e4f" },
      markArea: data.low !== null && data.high !== null ? {
        silent: true, itemStyle: { color: "rgba(11,110,79,0.10)" },
        data: [[{ yAxis: data.low, name: data.range }, { yAxis: data.high }]]
      } : undefined
    }];
    return {
      aria: { enabled: true },
      animation: false,
      grid: { left: 48, right: 16, top: 24, bottom: 40 },
      tooltip: { trigger: "axis", renderMode: "richText" },
      xAxis: { type: "time" },
      yAxis: { type: "value", name: data.unit, scale: true },
      series: series
    };
  }

  function drawChart(el) {
    if (el.dataset.drawn) { return; }
    var data = JSON.parse(document.getElementById(el.dataset.chart).textContent);
    loadCharts(el.dataset.echarts).then(function (echarts) {
      el.dataset.drawn = "1";
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(data.kind === "bars" ? barOptions(data) : lineOptions(data));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  function enhance(root) {
    var charts = (root || document).querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) { drawChart(charts[i]); }
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:after:swap", function (event) {
    enhance(document);
    var target = event.detail && event.detail.ctx && event.detail.ctx.target;
    var heading = target && target.querySelector && target.querySelector("[data-focus-after-swap]");
    if (heading) { heading.focus(); }
  });
})();
