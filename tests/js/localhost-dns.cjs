// Resolves <name>.localhost to the loopback address, as browsers and systemd-resolved do
// (RFC 6761), so that clients addressing <project>.localhost reach the local server.
const dns = require("dns");
const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (typeof options === "function") { callback = options; options = {}; }
  if (typeof hostname === "string" && hostname.endsWith(".localhost")) {
    const o = typeof options === "number" ? { family: options } : options || {};
    if (o.all) return process.nextTick(callback, null, [{ address: "127.0.0.1", family: 4 }]);
    return process.nextTick(callback, null, "127.0.0.1", 4);
  }
  return lookup.call(this, hostname, options, callback);
};
