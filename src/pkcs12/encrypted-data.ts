import { AsnProp, AsnPropTypes } from '@peculiar/asn1-schema';
import { EncryptedContentInfo } from '@peculiar/asn1-cms';

/** CMS EncryptedData (RFC 5652 section 8), the envelope of PKCS#12 password-encrypted safes; @peculiar/asn1-cms does not export it. Unprotected attributes are not read. */
export class EncryptedData {
  @AsnProp({ type: AsnPropTypes.Integer })
  version = 0;

  @AsnProp({ type: EncryptedContentInfo })
  encryptedContentInfo = new EncryptedContentInfo();
}
