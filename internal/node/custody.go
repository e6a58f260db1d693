package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/blobstore"
	"github.com/carechain/carechain/internal/custody"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// retryInterval is how often a node asks its peers again for blobs none
// could serve yet (a peer was down, or the writer's node had not yet seen
// the block).
const retryInterval = 2 * time.Second

// startCustody opens the blob store and this validator's keys and starts
// keeping the blobs in step with committed blocks.
func (n *Node) startCustody(home string, cfg Config, ccfg *cmtcfg.Config) error {
	blobs, err := blobstore.Open(filepath.Join(home, BlobDir), blobstore.Options{MaxBlobSize: records.MaxBlobBytes})
	if err != nil {
		return fmt.Errorf("open blob store: %w", err)
	}
	vkey, err := keyfile.Load(filepath.Join(home, ValidatorKeyFile))
	if err != nil {
		return fmt.Errorf("load validator HPKE key: %w", err)
	}
	pv := privval.LoadFilePV(ccfg.PrivValidatorKeyFile(), ccfg.PrivValidatorStateFile())
	peerKey := ed25519.PrivateKey(pv.Key.PrivKey.Bytes())
	if len(peerKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("validator key in %s is not Ed25519", ccfg.PrivValidatorKeyFile())
	}
	peers := make([]custody.Peer, len(cfg.Peers))
	for i, p := range cfg.Peers {
		peers[i] = custody.Peer{Address: p.Address, API: p.API}
	}
	n.custody, err = custody.New(custody.Config{ChainID: cfg.ChainID, Blobs: blobs, HPKE: vkey.HPKE, PeerKey: peerKey, Peers: peers,
		State: func() (kv.Reader, int64, error) { return n.store.Snapshot(0) },
		StateAt: func(h int64) (kv.Reader, error) {
			snap, _, err := n.store.Snapshot(h)
			return snap, err
		},
		Log: n.log.With("module", "custody")})
	return err
}

// runCustody follows committed blocks, fetching the blobs new record
// versions name and deleting those erasures name, after a full pass over
// the ledger that back-fills whatever this node missed while down.
func (n *Node) runCustody(ctx context.Context) error {
	sub, err := n.Comet.EventBus().Subscribe(ctx, "carechain-custody", cmttypes.EventQueryTx, 100_000)
	if err != nil {
		return err
	}
	go func() {
		rep, err := n.custody.Sync(ctx)
		if err != nil && ctx.Err() == nil {
			n.log.Error("custody back-fill", "err", err)
		} else if rep.Fetched+rep.Deleted+rep.Missing > 0 {
			n.log.Info("custody back-fill", "versions", rep.Versions, "fetched", rep.Fetched, "deleted", rep.Deleted, "missing", rep.Missing)
		}
	}()
	go n.custody.Run(ctx, retryInterval)
	// At most this many committed puts are being fetched at once; the rest
	// wait their turn, and the subscription's buffer holds the events.
	fetching := make(chan struct{}, 32)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Canceled():
				if ctx.Err() == nil {
					n.log.Warn("custody subscription dropped; the retry pass and the next start catch up", "err", sub.Err())
				}
				return
			case msg := <-sub.Out():
				data, ok := msg.Data().(cmttypes.EventDataTx)
				if !ok || data.Result.Code != 0 {
					continue
				}
				var put, erased []blobstore.Hash
				for _, e := range data.Result.Events {
					if e.Type != tx.TypePutRecord.String() && e.Type != tx.TypeEraseRecord.String() {
						continue
					}
					for _, a := range e.Attributes {
						if a.Key != "blob" {
							continue
						}
						h, err := blobstore.ParseHash(a.Value)
						if err != nil {
							continue
						}
						if e.Type == tx.TypePutRecord.String() {
							put = append(put, h)
						} else {
							erased = append(erased, h)
						}
					}
				}
				if len(put)+len(erased) > 0 {
					select {
					case fetching <- struct{}{}:
					case <-ctx.Done():
						return
					}
					go func() {
						defer func() { <-fetching }()
						n.custody.Committed(ctx, put, erased)
					}()
				}
			}
		}
	}()
	return nil
}
