/* The console's behaviour: live countdowns, checking forms before they are sent, keyboard focus in
   the approval inbox. No inline script anywhere (the pages' CSP allows only these files). */
(function () {
  "use strict";
  var body = document.body;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + (body.getAttribute("data-day") || "d") + " " : "") + two(h) + ":" + two(m) + ":" + two(s % 60);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = due - now;
      el.setAttribute("data-remaining-seconds", String(Math.round(left / 1000)));
      if (left >= 0) {
        el.textContent = span(left);
        el.classList.remove("late");
      } else {
        el.textContent = body.getAttribute("data-msg-overdue") + " " + span(left);
        el.classList.add("late");
      }
    });
  }

  function problemOf(input) {
    var v = input.validity;
    if (v.valueMissing) { return body.getAttribute("data-msg-required"); }
    if (input.getAttribute("data-kind") === "money" && !v.valid) { return body.getAttribute("data-msg-amount"); }
    if (!v.valid) { return body.getAttribute("data-msg-invalid"); }
    return "";
  }

  function check(form) {
    var first = null;
    form.querySelectorAll("input, select, textarea").forEach(function (input) {
      if (input.type === "hidden" || !input.willValidate) { return; }
      var message = problemOf(input);
      var slot = document.getElementById(input.id + "-error");
      if (slot) { slot.textContent = message; }
      if (message) {
        input.setAttribute("aria-invalid", "true");
        if (slot) { input.setAttribute("aria-describedby", slot.id); }
        if (!first) { first = input; }
      } else {
        input.removeAttribute("aria-invalid");
      }
    });
    if (first) { first.focus(); }
    return first === null;
  }

  // Capture phase: runs before htmx's own submit handler on the form, and stops it when a field is wrong.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-validate") && !check(form)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // The inbox: after a decision removes a card, focus the next card's comment for keyboard use.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("card")) {
      var next = target.nextElementSibling || target.previousElementSibling;
      body.setAttribute("data-focus-next", next && next.id ? next.id : "");
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    var id = body.getAttribute("data-focus-next");
    if (id === null) { return; }
    body.removeAttribute("data-focus-next");
    var count = document.getElementById("inbox-count");
    if (count) { count.textContent = String(document.querySelectorAll("#inbox .card").length); }
    var next = id ? document.getElementById(id) : null;
    var control = next ? next.querySelector("input[name=comment]") : null;
    if (control) { control.focus(); }
  });

  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
})();
