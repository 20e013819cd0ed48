// osts: small enhancements. Every action works without this script.
(function () {
  "use strict";

  // Suggestions while a student drafts a ticket: the panel refreshes (debounced) from
  // /tickets/similar as they type in the title or the description.
  function similarPanel() {
    var panel = document.getElementById("similar");
    var form = document.getElementById("new-ticket");
    if (!panel || !form) return;
    var title = form.elements.namedItem("title");
    var description = form.elements.namedItem("description");
    var timer = null;
    var latest = 0;
    function refresh() {
      var query = "title=" + encodeURIComponent(title.value) + "&description=" + encodeURIComponent(description.value);
      var ticket = ++latest;
      fetch(panel.getAttribute("data-similar") + "?" + query, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null || ticket !== latest) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var results = doc.getElementById("similar-results");
          var current = document.getElementById("similar-results");
          if (results && current) current.replaceWith(document.importNode(results, true));
        })
        .catch(function () { /* keep the last panel */ });
    }
    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 350);
    }
    title.addEventListener("input", schedule);
    description.addEventListener("input", schedule);
  }

  // +1 without a reload: the vote form is sent in the background and the count updated.
  function votes() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || form.getAttribute("data-enhance") !== "vote") return;
      event.preventDefault();
      var button = form.querySelector("button");
      if (button) button.disabled = true;
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" }
      })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (data) {
          var scope = form.closest("li") || document.getElementById("votes") || document;
          var count = scope.querySelector("[data-votes]");
          if (count) count.textContent = data.votes + (data.votes === 1 ? " vote" : " votes");
          var voted = !!data.voted;
          var number = form.action.replace(/\/(un)?vote$/, "");
          form.action = number + (voted ? "/unvote" : "/vote");
          if (button) {
            button.textContent = voted ? "Remove my +1" : "+1 me too";
            button.setAttribute("aria-pressed", voted ? "true" : "false");
            button.disabled = false;
          }
        })
        .catch(function () { form.submit(); });
    });
  }

  similarPanel();
  votes();
})();
