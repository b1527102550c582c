/**
 * PBES2 / PBKDF2 / PBMAC1 parameters (RFC 8018 appendix A, RFC 9579), which no @peculiar package models.
 * ASN.1 only (no node:crypto): the web console's PKCS#12 writer imports it too.
 */
import { AsnProp, AsnPropTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';

/** PBKDF2-params; `prf` absent means hmacWithSHA1 (its DEFAULT). The salt's otherSource choice is not supported. */
export class Pbkdf2Params {
  @AsnProp({ type: OctetString }) salt = new OctetString();
  @AsnProp({ type: AsnPropTypes.Integer }) iterationCount = 0;
  @AsnProp({ type: AsnPropTypes.Integer, optional: true }) keyLength?: number;
  @AsnProp({ type: AlgorithmIdentifier, optional: true }) prf?: AlgorithmIdentifier;
}

/** PBES2-params. */
export class Pbes2Params {
  @AsnProp({ type: AlgorithmIdentifier }) keyDerivationFunc = new AlgorithmIdentifier();
  @AsnProp({ type: AlgorithmIdentifier }) encryptionScheme = new AlgorithmIdentifier();
}

/** PBMAC1-params (RFC 8018 A.5), the MAC algorithm of RFC 9579 PKCS#12 files. */
export class Pbmac1Params {
  @AsnProp({ type: AlgorithmIdentifier }) keyDerivationFunc = new AlgorithmIdentifier();
  @AsnProp({ type: AlgorithmIdentifier }) messageAuthScheme = new AlgorithmIdentifier();
}
