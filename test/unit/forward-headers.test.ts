import { outgoingHeaders } from '../../src/services/forwarder';

describe('the headers /forward sends on to the partner', () => {
  it('drops our credentials, hop-by-hop headers and what our own proxies say about our network', () => {
    const out = outgoingHeaders({
      'x-api-appkey': 'k',
      'x-api-apptoken': 't',
      authorization: 'Basic ours',
      'x-forward-url': 'https://p.example/',
      'x-forward-authorization': 'Bearer partner',
      forwarded: 'for=10.0.0.9',
      'x-forwarded-for': '10.0.0.9',
      'x-forwarded-host': 'ca.internal',
      'x-forwarded-proto': 'https',
      'x-real-ip': '10.0.0.9',
      'x-client-cert': '-----BEGIN%20CERTIFICATE-----',
      connection: 'keep-alive, x-drop',
      'x-drop': '1',
      'content-type': 'application/json',
      'x-partner-header': 'kept',
    });
    expect(out).toEqual({ 'content-type': 'application/json', 'x-partner-header': 'kept', authorization: 'Bearer partner' });
  });
});
