package client

import (
	"context"

	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// Send signs m as key's actor with its next nonce and submits it, waiting
// for the commit.
func (c *Client) Send(ctx context.Context, key *keyfile.Key, m tx.Msg) (*TxResult, error) {
	return c.SendAs(ctx, key.ID, key, m)
}

// SendAs signs m as signer, whose current signing key is key. The
// registration of a new patient is signed this way by the new key itself.
func (c *Client) SendAs(ctx context.Context, signer string, key *keyfile.Key, m tx.Msg) (*TxResult, error) {
	raw, err := c.signAs(ctx, signer, key, m)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, raw, WaitCommit)
}

// signAs encodes m signed as signer, whose current signing key is key,
// with the signer's next nonce. Queries (audit.query, consent.query) are
// signed this way and handed to the endpoint that runs them.
func (c *Client) signAs(ctx context.Context, signer string, key *keyfile.Key, m tx.Msg) ([]byte, error) {
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	n, err := c.nextNonce(ctx, signer)
	if err != nil {
		return nil, err
	}
	return tx.Build(chainID, signer, n, m, key.Sign), nil
}
