// What the app uses of typage; web/typage/build.sh bundles it into web/static/age.js.
export { Decrypter, generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
