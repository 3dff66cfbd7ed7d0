/* Laddnät web checkout: mounts the PSP's payment element and keeps the status page live.
 * No framework, no build step; reads its inputs from data-* attributes (the CSP allows no
 * inline script).
 *
 * Stripe: the Payment Element (cards, Apple Pay, Google Pay) and stripe.confirmPayment(),
 * which redirects back to our status page. Adyen: the Drop-in on a Checkout session.
 */
(function () {
  "use strict";

  function show(el, text) {
    el.textContent = text;
    el.hidden = false;
    el.focus();
  }

  function mountStripe(pay) {
    var errors = document.getElementById("pay-errors");
    var button = document.getElementById("pay-button");
    var form = document.getElementById("pay-form");
    if (typeof window.Stripe !== "function") {
      show(errors, pay.dataset.loadError);
      return;
    }
    var stripe = window.Stripe(pay.dataset.key, { locale: pay.dataset.lang });
    var elements = stripe.elements({ clientSecret: pay.dataset.clientSecret, locale: pay.dataset.lang });
    var holder = document.getElementById("payment-element");
    holder.textContent = "";
    var element = elements.create("payment", { layout: "tabs" });
    element.mount(holder);
    button.disabled = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      errors.hidden = true;
      stripe
        .confirmPayment({ elements: elements, confirmParams: { return_url: pay.dataset.returnUrl } })
        .then(function (result) {
          // Reached only when the payment did not go through: on success Stripe.js
          // navigates to return_url, our status page.
          if (result && result.error) {
            show(errors, result.error.message || String(result.error));
          }
          button.disabled = false;
        });
    });
  }

  function mountAdyen(pay) {
    var errors = document.getElementById("pay-errors");
    if (typeof window.AdyenCheckout !== "function") {
      show(errors, pay.dataset.loadError);
      return;
    }
    var holder = document.getElementById("dropin");
    holder.textContent = "";
    window
      .AdyenCheckout({
        environment: pay.dataset.environment,
        clientKey: pay.dataset.clientKey,
        locale: pay.dataset.lang === "sv" ? "sv-SE" : "en-US",
        session: { id: pay.dataset.sessionId, sessionData: pay.dataset.sessionData },
        onPaymentCompleted: function (result) {
          window.location.assign(pay.dataset.returnUrl + "?resultCode=" + encodeURIComponent(result.resultCode));
        },
        onError: function (error) {
          show(errors, error.message || String(error));
        },
      })
      .then(function (checkout) {
        checkout.create("dropin").mount(holder);
      });
  }

  function poll(live) {
    var every = parseInt(live.dataset.poll, 10);
    var state = live.dataset.state;
    function tick() {
      fetch(live.dataset.statusUrl, { cache: "no-store", credentials: "same-origin" })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (progress) {
          if (progress === null) {
            return true;
          }
          if (progress.state !== state) {
            // A new step (started, ended, receipt ready): the server renders it.
            window.location.replace(window.location.pathname + window.location.search.replace(/([?&])stop=[^&]*/, "$1"));
            return false;
          }
          Object.keys(progress.texts).forEach(function (field) {
            var el = live.querySelector('[data-field="' + field + '"]');
            if (el && el.textContent !== progress.texts[field]) {
              el.textContent = progress.texts[field];
            }
          });
          var fault = document.getElementById("fault");
          if (fault && progress.fault && fault.textContent !== progress.fault) {
            fault.textContent = progress.fault;
            fault.hidden = false;
          }
          return true;
        })
        .catch(function () {
          return true; // offline for a moment (a garage): try again
        })
        .then(function (again) {
          if (again) {
            window.setTimeout(tick, every);
          }
        });
    }
    window.setTimeout(tick, every);
  }

  var pay = document.getElementById("pay");
  if (pay && pay.dataset.provider === "stripe") {
    mountStripe(pay);
  } else if (pay && pay.dataset.provider === "adyen") {
    mountAdyen(pay);
  }
  var live = document.getElementById("live");
  if (live && live.dataset.poll) {
    poll(live);
  }
})();
