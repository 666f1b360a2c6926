'use strict';
/*
 * The demo shop: a hash-routed single page (list → product → cart → checkout → thank-you) that tracks every
 * step through tagpipe.js with Segment's ecommerce event names. Cart and consent choice are the shop's own
 * state in localStorage; the SDK itself stores nothing but its retry queue.
 */
(function () {
  var CURRENCY = 'EUR';
  var PRODUCTS = [
    {
      id: 'mug-classic',
      sku: 'MUG-001',
      name: 'Classic Mug',
      price: 12.0,
      category: 'Mugs',
      icon: '☕',
      color: '#f4e1c1',
    },
    {
      id: 'mug-espresso',
      sku: 'MUG-002',
      name: 'Espresso Cup',
      price: 9.5,
      category: 'Mugs',
      icon: '♨',
      color: '#d9e7f5',
    },
    {
      id: 'beans-house',
      sku: 'BNS-101',
      name: 'House Beans 250 g',
      price: 8.9,
      category: 'Coffee',
      icon: '⁂',
      color: '#e6d5c9',
    },
    {
      id: 'filter-v60',
      sku: 'BRW-210',
      name: 'Pour-over Dripper',
      price: 24.0,
      category: 'Brewing',
      icon: '▽',
      color: '#dcefe3',
    },
  ];
  var ALL_DENIED = { analytics: false, ads: false, ad_user_data: false, ad_personalization: false };
  var ALL_GRANTED = { analytics: true, ads: true, ad_user_data: true, ad_personalization: true };

  var view = document.getElementById('view');

  function read(key, fallback) {
    try {
      var v = JSON.parse(localStorage.getItem(key));
      return v === null ? fallback : v;
    } catch (e) {
      return fallback;
    }
  }
  function write(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      /* storage blocked: state lives for this page */
    }
  }

  function product(id) {
    return PRODUCTS.filter(function (p) {
      return p.id === id;
    })[0];
  }
  function money(n) {
    return new Intl.NumberFormat('en-IE', { style: 'currency', currency: CURRENCY }).format(n);
  }
  function round2(n) {
    return Math.round(n * 100) / 100;
  }

  // ---- cart (the shop's state)
  function cart() {
    return read('demo_cart', []);
  }
  function saveCart(items) {
    write('demo_cart', items);
    document.getElementById('cart-count').textContent = items.reduce(function (n, i) {
      return n + i.quantity;
    }, 0);
  }
  function cartLines() {
    return cart().map(function (i) {
      var p = product(i.id);
      return { product_id: p.id, sku: p.sku, name: p.name, category: p.category, price: p.price, quantity: i.quantity };
    });
  }
  function cartValue(lines) {
    return round2(
      lines.reduce(function (s, l) {
        return s + l.price * l.quantity;
      }, 0),
    );
  }

  // ---- tiny DOM helpers (textContent only)
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'onclick') node.addEventListener('click', attrs[k]);
      else if (k === 'style') node.setAttribute('style', attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(c);
    });
    return node;
  }
  function show(children) {
    view.textContent = '';
    children.forEach(function (c) {
      view.appendChild(c);
    });
    window.scrollTo(0, 0);
  }
  function swatch(p) {
    return el('div', { class: 'swatch', style: 'background:' + p.color, text: p.icon });
  }

  // ---- views
  function listView() {
    tagpipe('page', 'Product List', { category: 'All' });
    show([
      el('h1', { text: 'Mugs, beans and brewing' }),
      el(
        'div',
        { class: 'grid' },
        PRODUCTS.map(function (p) {
          return el('a', { class: 'card', href: '#/product/' + p.id, 'data-product': p.id }, [
            swatch(p),
            el('div', { text: p.name }),
            el('div', { class: 'price', text: money(p.price) }),
          ]);
        }),
      ),
    ]);
  }

  function productView(id) {
    var p = product(id);
    if (!p) return notFound();
    tagpipe('page', 'Product', { product_id: p.id });
    tagpipe('track', 'Product Viewed', {
      product_id: p.id,
      sku: p.sku,
      name: p.name,
      category: p.category,
      price: p.price,
      currency: CURRENCY,
    });
    var qty = el('input', { type: 'number', min: '1', max: '9', value: '1', id: 'qty', style: 'width:80px' });
    show([
      el('div', { class: 'product' }, [
        swatch(p),
        el('div', {}, [
          el('h1', { text: p.name }),
          el('p', { class: 'price', text: money(p.price) }),
          el('p', { class: 'muted', text: p.category }),
          el('label', { text: 'Quantity ' }, [qty]),
          el('button', {
            id: 'add-to-cart',
            onclick: function () {
              var quantity = Math.max(1, Math.min(9, parseInt(qty.value, 10) || 1));
              var items = cart();
              var line = items.filter(function (i) {
                return i.id === p.id;
              })[0];
              if (line) line.quantity += quantity;
              else items.push({ id: p.id, quantity: quantity });
              saveCart(items);
              tagpipe('track', 'Product Added', {
                product_id: p.id,
                sku: p.sku,
                name: p.name,
                category: p.category,
                price: p.price,
                quantity: quantity,
                currency: CURRENCY,
              });
              location.hash = '#/cart';
            },
            text: 'Add to cart',
          }),
        ]),
      ]),
    ]);
  }

  function cartView() {
    tagpipe('page', 'Cart');
    var lines = cartLines();
    if (!lines.length) {
      return show([
        el('h1', { text: 'Your cart' }),
        el('p', { class: 'notice' }, [
          document.createTextNode('Your cart is empty. '),
          el('a', { href: '#/', text: 'Browse the shop' }),
        ]),
      ]);
    }
    show([
      el('h1', { text: 'Your cart' }),
      el(
        'table',
        {},
        [
          el(
            'tr',
            {},
            ['Product', 'Qty', 'Price'].map(function (h) {
              return el('th', { text: h });
            }),
          ),
        ].concat(
          lines.map(function (l) {
            return el('tr', {}, [
              el('td', { text: l.name }),
              el('td', { text: String(l.quantity) }),
              el('td', { text: money(l.price * l.quantity) }),
            ]);
          }),
        ),
      ),
      el('p', { class: 'total', text: 'Total ' + money(cartValue(lines)) }),
      el('button', {
        id: 'checkout',
        onclick: function () {
          tagpipe('track', 'Checkout Started', { value: cartValue(lines), currency: CURRENCY, products: lines });
          location.hash = '#/checkout';
        },
        text: 'Checkout',
      }),
    ]);
  }

  function checkoutView() {
    tagpipe('page', 'Checkout');
    var lines = cartLines();
    if (!lines.length) {
      location.hash = '#/cart';
      return;
    }
    var email = el('input', { type: 'email', id: 'email', value: 'jane.doe@example.com', required: 'required' });
    var form = el('form', { class: 'form' }, [
      el('h1', { text: 'Checkout' }),
      el('label', { text: 'Email' }, [email]),
      el('label', { text: 'Card' }, [el('input', { value: '4242 4242 4242 4242 (demo)', disabled: 'disabled' })]),
      el('p', { class: 'total', text: 'Pay ' + money(cartValue(lines)) }),
      el('button', { id: 'place-order', type: 'submit', text: 'Place order' }),
    ]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var orderId = 'ORD-' + Date.now().toString(36).toUpperCase();
      var value = cartValue(lines);
      // the collector hashes the email into identifiers.email_sha256 (what ad platforms are sent)
      tagpipe('identify', null, { email: email.value });
      var eventId = tagpipe('track', 'Order Completed', {
        order_id: orderId,
        value: value,
        revenue: value,
        currency: CURRENCY,
        products: lines,
      });
      saveCart([]);
      // SPA navigation keeps the page (and the SDK's batch) alive; flush so the purchase leaves right away
      tagpipe('flush');
      write('demo_last_order', { orderId: orderId, value: value, eventId: eventId || tagpipe.lastEventId || null });
      location.hash = '#/thanks';
    });
    show([form]);
  }

  function thanksView() {
    tagpipe('page', 'Order Confirmation');
    var last = read('demo_last_order', null);
    show([
      el('h1', { text: 'Thank you!' }),
      el(
        'div',
        { class: 'notice' },
        last
          ? [
              el('p', { text: 'Order ' + last.orderId + ' · ' + money(last.value) }),
              el('p', { class: 'muted' }, [
                document.createTextNode('Purchase event_id '),
                el('code', { id: 'event-id', text: String(last.eventId) }),
                document.createTextNode(' — a Meta pixel would send the same value as eventID so the two deduplicate.'),
              ]),
            ]
          : [el('p', { text: 'No recent order.' })],
      ),
      el('p', {}, [el('a', { href: '/debug', target: '_blank', text: 'See it in the live debug view ↗' })]),
    ]);
  }

  function notFound() {
    tagpipe('page', 'Not Found');
    show([el('h1', { text: 'Not found' }), el('a', { href: '#/', text: 'Back to the shop' })]);
  }

  function route() {
    var parts = location.hash.replace(/^#\/?/, '').split('/');
    if (!parts[0]) return listView();
    if (parts[0] === 'product') return productView(parts[1]);
    if (parts[0] === 'cart') return cartView();
    if (parts[0] === 'checkout') return checkoutView();
    if (parts[0] === 'thanks') return thanksView();
    return notFound();
  }

  // ---- consent: denied until the visitor chooses (no cookie, no identifiers before that)
  var banner = document.getElementById('consent');
  function choose(state) {
    write('demo_consent', state);
    tagpipe('consent', state);
    banner.hidden = true;
  }
  document.getElementById('consent-accept').addEventListener('click', function () {
    choose(ALL_GRANTED);
  });
  document.getElementById('consent-deny').addEventListener('click', function () {
    choose(ALL_DENIED);
  });
  document.getElementById('privacy').addEventListener('click', function () {
    banner.hidden = false;
  });

  var stored = read('demo_consent', null);
  tagpipe('consent', stored || ALL_DENIED);
  banner.hidden = !!stored;

  saveCart(cart());
  window.addEventListener('hashchange', route);
  route();
})();
