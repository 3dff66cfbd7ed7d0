/* Appended, in the tests only, to localstripe's fake Stripe.js (served through the test's
 * Stripe proxy): the part of Stripe.js's Payment Element API the checkout page calls.
 *
 * localstripe's fake knows only the Card Element era: elements() without options,
 * create(type) that always makes its own card inputs, confirmCardPayment() that ignores
 * the card and only plays 3-D Secure. Real Stripe.js, for the Payment Element, creates the
 * PaymentMethod with the publishable key and confirms the PaymentIntent with its
 * client_secret, then navigates to return_url with payment_intent,
 * payment_intent_client_secret and redirect_status. That is what this does, against the
 * proxy, so the page's production code path (elements({clientSecret}), create('payment'),
 * confirmPayment({elements, confirmParams: {return_url}})) runs unchanged.
 */
(function () {
  const fakeStripe = Stripe;
  Stripe = function (key) {
    const stripe = fakeStripe(key);
    const fakeElements = stripe.elements;
    stripe.elements = function (options) {
      const elements = fakeElements();
      elements._clientSecret = options && options.clientSecret;
      return elements;
    };
    async function post(path, params) {
      const response = await fetch(LOCALSTRIPE_BASE_API + path, {
        method: 'POST',
        body: new URLSearchParams(Object.assign({key: key}, params)),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok || body.error) {
        return {error: body.error || {message: 'HTTP ' + response.status}};
      }
      return {result: body};
    }
    stripe.confirmPayment = async function (args) {
      const elements = args.elements;
      const clientSecret = elements._clientSecret;
      const element = elements.getElement('payment');
      const card = (element && element.value && element.value.card) || {};
      const method = await post('/v1/payment_methods', {
        'type': 'card',
        'card[number]': String(card.number || '').replace(/\s/g, ''),
        'card[exp_month]': card.exp_month || '',
        'card[exp_year]': card.exp_year || '',
        'card[cvc]': card.cvc || '',
      });
      if (method.error) {
        return {error: method.error};
      }
      const intent = clientSecret.split('_secret_')[0];
      const confirmed = await post('/v1/payment_intents/' + intent + '/confirm', {
        client_secret: clientSecret,
        payment_method: method.result.id,
        return_url: args.confirmParams.return_url,
      });
      if (confirmed.error) {
        return {error: confirmed.error};
      }
      const ok = ['requires_capture', 'succeeded', 'processing'].includes(confirmed.result.status);
      const url = new URL(args.confirmParams.return_url);
      url.searchParams.set('payment_intent', intent);
      url.searchParams.set('payment_intent_client_secret', clientSecret);
      url.searchParams.set('redirect_status', ok ? 'succeeded' : 'failed');
      window.location.assign(url.toString());
      return new Promise(() => {});  // Stripe.js never resolves once it navigates away
    };
    return stripe;
  };
})();
