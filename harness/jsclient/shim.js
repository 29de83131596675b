// shim.js: what a phone gives a mini-program, built on the Go natives `n` of
// one simulated device. Compiled once, run in every device runtime before the
// adapter. Conventions follow the WeChat base library (and uni-app for `uni`):
// callbacks are never called synchronously, success/fail then complete, errMsg
// "<api>:ok" / "<api>:fail <reason>", and a Promise when no callback is given.
(function (n, info) {
  'use strict';
  var G = globalThis;
  var hasOwn = Object.prototype.hasOwnProperty;

  function isFn(f) { return typeof f === 'function'; }
  function noop() {}
  function hasCallbacks(o) {
    return !!o && (isFn(o.success) || isFn(o.fail) || isFn(o.complete));
  }

  // fmt renders one console argument.
  function fmt(v) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return v.stack || (v.name + ': ' + v.message);
    if (v === undefined) return 'undefined';
    if (typeof v === 'function') return '[Function ' + (v.name || 'anonymous') + ']';
    if (typeof v === 'object' && v !== null) {
      try { return JSON.stringify(v); } catch (e) { return String(v); }
    }
    return String(v);
  }

  // errMessage turns a rejection reason into the text the harness reports.
  function errMessage(e) {
    if (e instanceof Error) {
      var name = e.name && e.name !== 'Error' ? e.name + ': ' : '';
      return e.message ? name + e.message : String(e);
    }
    if (e !== null && typeof e === 'object') {
      if (typeof e.errMsg === 'string') return e.errMsg;
      if (typeof e.message === 'string') return e.message;
      return fmt(e);
    }
    return String(e);
  }

  function ok(name, res) {
    res = res || {};
    res.errMsg = name + ':ok';
    return res;
  }
  function fail(name, reason) { return { errMsg: name + ':fail ' + reason }; }

  // finish settles a callback-style call: success or fail, then complete.
  function finish(o, good, res) {
    try {
      if (good) { if (isFn(o.success)) o.success(res); }
      else if (isFn(o.fail)) o.fail(res);
    } finally {
      if (isFn(o.complete)) o.complete(res);
    }
  }

  // api makes an asynchronous API: callbacks when any is given, otherwise a
  // Promise (base library >= 2.10.2 and uni-app both do this). run(o, done)
  // must call done(good, res) later, never synchronously.
  function api(run) {
    return function (o) {
      o = o || {};
      if (hasCallbacks(o)) {
        run(o, function (good, res) { finish(o, good, res); });
        return undefined;
      }
      return new Promise(function (resolve, reject) {
        run(o, function (good, res) { (good ? resolve : reject)(res); });
      });
    };
  }

  // later runs fn as a separate task of the device loop, like a callback from
  // the native side of a real phone.
  function later(fn) { n.defer(fn); }

  // ---- request ----------------------------------------------------------

  function headerGet(h, name) {
    name = name.toLowerCase();
    for (var k in h) if (hasOwn.call(h, k) && k.toLowerCase() === name) return h[k];
    return undefined;
  }

  function encodeQuery(data) {
    var parts = [];
    Object.keys(data).forEach(function (k) {
      var v = data[k];
      if (v === undefined) return;
      if (v !== null && typeof v === 'object') v = JSON.stringify(v);
      parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
    });
    return parts.join('&');
  }

  function cookiesOf(header) {
    var c = headerGet(header, 'set-cookie');
    return c ? String(c).split(/,(?=[^;]+?=)/) : [];
  }

  // makeRequest builds wx.request / uni.request. interceptors is uni's
  // addInterceptor list (empty for wx).
  function makeRequest(promiseWhenNoCallbacks, interceptors) {
    return function request(o) {
      o = o || {};
      for (var i = 0; i < interceptors.length; i++) {
        var ic = interceptors[i];
        if (isFn(ic.invoke) && ic.invoke(o) === false) {
          var stopped = fail('request', 'interceptor cancelled');
          if (promiseWhenNoCallbacks && !hasCallbacks(o)) return Promise.reject(stopped);
          later(function () { finish(o, false, stopped); });
          return { abort: noop };
        }
      }
      var method = String(o.method || 'GET').toUpperCase();
      var header = {};
      if (o.header) {
        for (var k in o.header) {
          if (hasOwn.call(o.header, k) && o.header[k] !== undefined && o.header[k] !== null) {
            header[k] = String(o.header[k]);
          }
        }
      }
      if (headerGet(header, 'content-type') === undefined) header['content-type'] = 'application/json';
      var url = String(o.url === undefined ? '' : o.url);
      var body;
      var data = o.data;
      if (data !== undefined && data !== null) {
        if (method === 'GET' || method === 'HEAD') {
          // The base library turns GET data into the query string.
          var q = typeof data === 'string' ? data : encodeQuery(data);
          if (q) url += (url.indexOf('?') >= 0 ? '&' : '?') + q;
        } else if (typeof data === 'string' || data instanceof ArrayBuffer) {
          body = data;
        } else if (/x-www-form-urlencoded/i.test(headerGet(header, 'content-type'))) {
          body = encodeQuery(data);
        } else {
          body = JSON.stringify(data);
        }
      }
      var usePromise = promiseWhenNoCallbacks && !hasCallbacks(o);
      var settle, promise;
      if (usePromise) {
        promise = new Promise(function (resolve, reject) {
          settle = function (good, res) { (good ? resolve : reject)(res); };
        });
      } else {
        settle = function (good, res) { finish(o, good, res); };
      }
      var deliver = function (good, res) {
        for (var j = 0; j < interceptors.length; j++) {
          var h = interceptors[j];
          if (good && isFn(h.success)) h.success(res);
          if (!good && isFn(h.fail)) h.fail(res);
          if (isFn(h.complete)) h.complete(res);
        }
        settle(good, res);
      };
      var id = n.request({
        url: url,
        method: method,
        header: header,
        body: body,
        responseType: o.responseType || 'text',
        timeout: o.timeout,
      }, function (err, status, hdr, text) {
        if (err !== null) { deliver(false, fail('request', err)); return; }
        var d = text;
        if (o.responseType !== 'arraybuffer' && (o.dataType === undefined || o.dataType === 'json')) {
          try { d = JSON.parse(text); } catch (e) { /* not JSON: the base library keeps the string */ }
        }
        deliver(true, { data: d, statusCode: status, header: hdr, cookies: cookiesOf(hdr), errMsg: 'request:ok' });
      });
      if (usePromise) return promise;
      return {
        abort: function () { n.abort(id); },
        onHeadersReceived: noop, offHeadersReceived: noop,
        onChunkReceived: noop, offChunkReceived: noop,
      };
    };
  }

  // ---- login and session ------------------------------------------------

  var login = api(function (o, done) {
    n.login(function (err, code) {
      if (err !== null) done(false, fail('login', err));
      else done(true, { code: code, errMsg: 'login:ok' });
    });
  });

  var checkSession = api(function (o, done) {
    later(function () {
      if (n.checkSession()) done(true, ok('checkSession'));
      else done(false, fail('checkSession', 'session time out, need relogin'));
    });
  });

  // ---- storage: values are stored as JSON, as the base library does -----

  function checkKey(name, key) {
    if (typeof key !== 'string' || key === '') {
      throw new TypeError(name + ':fail parameter error: parameter.key should be a non-empty String');
    }
  }
  function load(key) {
    var s = n.getItem(key);
    return s === undefined ? undefined : JSON.parse(s);
  }
  function store(key, v) {
    var s = JSON.stringify(v);
    if (s === undefined) n.removeItem(key); else n.setItem(key, s);
  }
  function storageInfo() {
    var keys = n.keys();
    return { keys: keys, currentSize: n.sizeKB(), limitSize: 10240 };
  }

  var storage = {
    getStorageSync: function (key) {
      checkKey('getStorageSync', key);
      var v = load(key);
      return v === undefined ? '' : v;
    },
    setStorageSync: function (key, v) { checkKey('setStorageSync', key); store(key, v); },
    removeStorageSync: function (key) { checkKey('removeStorageSync', key); n.removeItem(key); },
    clearStorageSync: function () { n.clear(); },
    getStorageInfoSync: storageInfo,
    // The async forms act in a later task, so a wrapper that writes with
    // setStorage and reads back with getStorageSync at once sees the race a
    // phone would show it.
    getStorage: api(function (o, done) {
      later(function () {
        var v = load(String(o.key));
        if (v === undefined) done(false, fail('getStorage', 'data not found'));
        else done(true, { data: v, errMsg: 'getStorage:ok' });
      });
    }),
    setStorage: api(function (o, done) {
      later(function () { store(String(o.key), o.data); done(true, ok('setStorage')); });
    }),
    removeStorage: api(function (o, done) {
      later(function () { n.removeItem(String(o.key)); done(true, ok('removeStorage')); });
    }),
    clearStorage: api(function (o, done) {
      later(function () { n.clear(); done(true, ok('clearStorage')); });
    }),
    getStorageInfo: api(function (o, done) {
      later(function () { done(true, ok('getStorageInfo', storageInfo())); });
    }),
  };

  // ---- UI: recorded (a refresh that bounces the user to a login page is a finding)

  function ui(name, detail, result) {
    return api(function (o, done) {
      n.ui(name, detail(o));
      later(function () { done(true, ok(name, result ? result(o) : undefined)); });
    });
  }
  function str(v) { return v === undefined || v === null ? '' : String(v); }
  var uiAPIs = {
    showToast: ui('showToast', function (o) { return str(o.title); }),
    hideToast: ui('hideToast', function () { return ''; }),
    showLoading: ui('showLoading', function (o) { return str(o.title); }),
    hideLoading: ui('hideLoading', function () { return ''; }),
    showModal: ui('showModal', function (o) {
      return str(o.title) + (o.content ? ': ' + o.content : '');
    }, function () { return { confirm: true, cancel: false, content: '' }; }),
    showActionSheet: ui('showActionSheet', function (o) {
      return (o.itemList || []).join(' | ');
    }, function () { return { tapIndex: 0 }; }),
    reLaunch: ui('reLaunch', function (o) { return str(o.url); }),
    navigateTo: ui('navigateTo', function (o) { return str(o.url); }),
    redirectTo: ui('redirectTo', function (o) { return str(o.url); }),
    switchTab: ui('switchTab', function (o) { return str(o.url); }),
    navigateBack: ui('navigateBack', function (o) { return 'delta ' + (o.delta || 1); }),
  };

  // ---- device information -----------------------------------------------

  var launch = { path: 'pages/index/index', query: {}, scene: 1001, referrerInfo: {} };
  var system = {
    brand: 'tokenstorm', model: 'tokenstorm', pixelRatio: 2,
    screenWidth: 375, screenHeight: 812, windowWidth: 375, windowHeight: 812,
    statusBarHeight: 44, language: 'zh_CN', version: '8.0.50', system: 'iOS 17.0',
    platform: 'devtools', SDKVersion: '3.4.0', deviceId: info.device,
  };
  function copy(o) { return JSON.parse(JSON.stringify(o)); }

  function base(name, promiseRequest, interceptors) {
    var t = {
      request: makeRequest(promiseRequest, interceptors),
      login: login,
      checkSession: checkSession,
      getSystemInfoSync: function () { return copy(system); },
      getSystemInfo: api(function (o, done) {
        later(function () { done(true, ok('getSystemInfo', copy(system))); });
      }),
      getWindowInfo: function () { return copy(system); },
      getDeviceInfo: function () { return copy(system); },
      getAppBaseInfo: function () { return copy(system); },
      getAccountInfoSync: function () {
        return { miniProgram: { appId: info.appid, envVersion: 'develop', version: '' } };
      },
      getLaunchOptionsSync: function () { return copy(launch); },
      getEnterOptionsSync: function () { return copy(launch); },
      getNetworkType: api(function (o, done) {
        later(function () { done(true, ok('getNetworkType', { networkType: 'wifi' })); });
      }),
      onNetworkStatusChange: noop, offNetworkStatusChange: noop,
      onAppShow: noop, offAppShow: noop, onAppHide: noop, offAppHide: noop,
      onError: noop, offError: noop, onUnhandledRejection: noop, offUnhandledRejection: noop,
      nextTick: function (fn) { later(fn); },
      canIUse: function (s) {
        return typeof s === 'string' && hasOwn.call(t, s.split('.')[0]);
      },
    };
    var k;
    for (k in storage) t[k] = storage[k];
    for (k in uiAPIs) t[k] = uiAPIs[k];
    return t;
  }

  // guard makes every property that is not shimmed throw instead of being
  // undefined: "wx.getUserProfile is not a function" would hide the reason.
  // Wrappers may still add or patch properties (interceptors often do).
  var transparent = { then: 1, toJSON: 1, __esModule: 1, 'default': 1, inspect: 1, $$typeof: 1 };
  function guard(name, t) {
    return new Proxy(t, {
      get: function (target, k, recv) {
        if (typeof k !== 'string' || k in target || hasOwn.call(transparent, k)) {
          return Reflect.get(target, k, recv);
        }
        var msg = 'not supported by tokenstorm: ' + name + '.' + k;
        n.log('error', msg);
        throw new TypeError(msg);
      },
    });
  }

  var wx = base('wx', false, []);

  var uniInterceptors = {};
  var uni = base('uni', true, []);
  uni.request = function (o) { return makeRequest(true, uniInterceptors.request || [])(o); };
  uni.addInterceptor = function (apiName, hooks) {
    if (typeof apiName !== 'string') return; // a global interceptor: not supported, ignored
    (uniInterceptors[apiName] = uniInterceptors[apiName] || []).push(hooks || {});
  };
  uni.removeInterceptor = function (apiName) { delete uniInterceptors[apiName]; };
  // uni's global event bus, often used to broadcast "logged in" / "logged out".
  var bus = {};
  uni.$on = function (ev, fn) { (bus[ev] = bus[ev] || []).push(fn); };
  uni.$once = function (ev, fn) {
    var w = function () { uni.$off(ev, w); return fn.apply(this, arguments); };
    uni.$on(ev, w);
  };
  uni.$off = function (ev, fn) {
    if (!fn) { delete bus[ev]; return; }
    bus[ev] = (bus[ev] || []).filter(function (f) { return f !== fn; });
  };
  uni.$emit = function (ev) {
    var args = Array.prototype.slice.call(arguments, 1);
    (bus[ev] || []).slice().forEach(function (f) { f.apply(null, args); });
  };

  // ---- globals ------------------------------------------------------------

  var app;
  G.App = function (o) {
    app = o || {};
    if (!app.globalData) app.globalData = {};
    if (isFn(app.onLaunch)) app.onLaunch(copy(launch));
    if (isFn(app.onShow)) app.onShow(copy(launch));
    return app;
  };
  // getApp works before App() too: wrappers tested without app.js still find
  // globalData.
  G.getApp = function () {
    if (!app) app = { globalData: {} };
    return app;
  };
  G.getCurrentPages = function () { return []; };
  G.Page = noop;
  G.Component = noop;
  G.Behavior = function (o) { return o; };

  function logger(level) {
    return function () {
      var parts = [];
      for (var i = 0; i < arguments.length; i++) parts.push(fmt(arguments[i]));
      n.log(level, parts.join(' '));
    };
  }
  G.console = {
    log: logger('log'), info: logger('info'), debug: logger('debug'),
    warn: logger('warn'), error: logger('error'), trace: logger('trace'),
    table: logger('log'), dir: logger('log'),
    time: noop, timeEnd: noop, group: noop, groupEnd: noop,
  };

  G.wx = guard('wx', wx);
  G.uni = guard('uni', uni);
  G.tokenstorm = Object.freeze({
    backendURL: info.backendURL,
    wechatURL: info.wechatURL,
    appid: info.appid,
    device: info.device,
    style: info.style,
  });

  // Helpers for the Go side.
  return {
    // invoke calls the adapter and reports how its promise settles. Reading
    // the value may run the adapter's code (getters, toString, Proxy traps)
    // and throw: onBroken then settles the call, which would otherwise wait
    // for its deadline.
    invoke: function (call, req, onOK, onFail, onBroken) {
      var p;
      try { p = call(req); } catch (e) { p = Promise.reject(e); }
      Promise.resolve(p).then(onOK, onFail).then(undefined, onBroken);
    },
    // canon is the JSON a wrapper produces from a parsed body (see bodies in request handling).
    canon: function (s) {
      try { return JSON.stringify(JSON.parse(s)); } catch (e) { return undefined; }
    },
    message: errMessage,
    stringify: function (v) { return JSON.stringify(v); },
    parse: function (s) { return JSON.parse(s); },
  };
})
