package tx

import "crypto/ed25519"

// Build encodes m into a transaction from signer with nonce and signs it.
func Build(chainID, signer string, nonce uint64, m Msg, key ed25519.PrivateKey) []byte {
	t := &Tx{ChainID: chainID, Signer: signer, Nonce: nonce, Type: m.Type(), Body: m.Encode()}
	t.Sign(key)
	return t.Encode()
}

// NewRegistration returns a RegisterActor for the holder of signKey, with
// its proof of possession when a sponsor will sign the transaction.
func NewRegistration(chainID string, kind Kind, name, org string, signKey ed25519.PrivateKey, hpkePub []byte) *RegisterActor {
	pub := signKey.Public().(ed25519.PublicKey)
	m := &RegisterActor{Kind: kind, Name: name, Org: org, SignKey: pub, HPKEKey: hpkePub}
	if !SelfRegistered(kind) {
		m.Possession = ed25519.Sign(signKey, PossessionBytes(chainID, ActorID(pub), pub, hpkePub))
	}
	return m
}

// NewRotation returns a RotateKey moving actor to newKey, with the new key's
// proof of possession.
func NewRotation(chainID, actor string, newKey ed25519.PrivateKey, hpkePub []byte) *RotateKey {
	pub := newKey.Public().(ed25519.PublicKey)
	return &RotateKey{Actor: actor, SignKey: pub, HPKEKey: hpkePub,
		Possession: ed25519.Sign(newKey, PossessionBytes(chainID, actor, pub, hpkePub))}
}
