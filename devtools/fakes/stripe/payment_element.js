/* Appended, in the demo and the tests only, to localstripe's fake Stripe.js (served through the
 * fake Stripe's browser proxy): the part of Stripe.js's Payment Element API the checkout page calls.
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
  // localstripe's card inputs are bare boxes: its exp_year glues '20' in front of whatever
  // is typed, so a four-digit year (2030 -> 202030) came back as "Bad request". Read what
  // was typed and accept what the demo banner invites ("any future date"): MM/YY or
  // MM/YYYY, with or without spaces, split over the two boxes or typed whole into either.
  // Anything else is refused here with a message that says what is wrong.
  function expiry(monthText, yearText, now) {
    const parts = (String(monthText || '') + '/' + String(yearText || ''))
      .replace(/\s/g, '')
      .split('/')
      .filter(Boolean);
    if (parts.length !== 2 || !/^\d{1,2}$/.test(parts[0]) || !/^(\d{2}|\d{4})$/.test(parts[1])) {
      return {error: 'The expiry date is incomplete or not a date: type it as MM/YY or MM/YYYY, e.g. 12/34.'};
    }
    const month = parseInt(parts[0], 10);
    const year = parts[1].length === 2 ? 2000 + parseInt(parts[1], 10) : parseInt(parts[1], 10);
    if (month < 1 || month > 12) {
      return {error: 'The expiry month must be between 01 and 12.'};
    }
    const thisYear = now.getFullYear();
    if (year < thisYear || (year === thisYear && month < now.getMonth() + 1)) {
      return {error: 'The expiry date ' + parts[0].padStart(2, '0') + '/' + year + ' is in the past.'};
    }
    return {month: String(month), year: String(year)};
  }

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
      const typed = (element && element._inputs) || {};  // the raw boxes, before localstripe's '20'
      const expires = expiry(
        typed.exp_month ? typed.exp_month.value : card.exp_month,
        typed.exp_year ? typed.exp_year.value : String(card.exp_year || '').replace(/^20/, ''),
        new Date(),
      );
      if (expires.error) {
        return {error: {type: 'validation_error', code: 'invalid_expiry', message: expires.error}};
      }
      const method = await post('/v1/payment_methods', {
        'type': 'card',
        'card[number]': String(card.number || '').replace(/\s/g, ''),
        'card[exp_month]': expires.month,
        'card[exp_year]': expires.year,
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
