// What the app uses of typage, and Ed25519 from @noble/curves for browsers
// whose WebCrypto lacks it; web/typage/build.sh bundles it into web/static/age.js.
export { Decrypter, generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
export { ed25519 } from "@noble/curves/ed25519.js";
export { sha256 } from "@noble/hashes/sha2.js";
