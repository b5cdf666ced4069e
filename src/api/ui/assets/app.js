// pagerd dashboard: live updates from /ui/events (SSE). Pages work without this script;
// with it the incident list and an incident's page refresh themselves when events commit.
"use strict";
(function () {
  // The viewer's zone, for pages that show times in it (read by the server).
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz) document.cookie = "pagerd_tz=" + encodeURIComponent(tz) + "; path=/ui; SameSite=Strict";
  } catch (e) { /* no Intl: times stay in UTC and the schedule's zone */ }

  var list = document.querySelector("[data-live]");
  var incident = document.querySelector("[data-live-incident]");
  if (!list && !incident || !window.EventSource) return;

  var pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      var url = list ? list.getAttribute("data-live") : window.location.pathname;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          if (list) {
            var table = doc.getElementById("incidents");
            if (!table) return;
            var old = document.getElementById("incidents");
            old.replaceWith(document.importNode(table, true));
            var open = parseInt(table.getAttribute("data-open") || "0", 10);
            var base = document.title.replace(/^\(\d+\) /, "");
            document.title = open > 0 ? "(" + open + ") " + base : base;
          } else {
            ["facts", "timeline"].forEach(function (id) {
              var fresh = doc.getElementById(id), old = document.getElementById(id);
              if (fresh && old) old.replaceWith(document.importNode(fresh, true));
            });
            var acts = doc.querySelector(".actions"), oldActs = document.querySelector(".actions");
            if (oldActs && !acts) oldActs.remove();
          }
        })
        .catch(function () { /* the next event tries again */ });
    }, 500);
  }

  var id = incident ? incident.getAttribute("data-live-incident") : null;
  // EventSource reconnects by itself and sends Last-Event-ID: nothing is missed.
  var es = new EventSource("/ui/events");
  // One message names the incidents that changed since the last (or says "many").
  es.addEventListener("incidents", function (ev) {
    if (id) {
      try {
        var d = JSON.parse(ev.data);
        if (!d.many && d.incidents.map(String).indexOf(id) < 0) return;
      } catch (e) { return; }
    }
    refresh();
  });
  es.addEventListener("ready", function () { if (list) refresh(); });
})();
