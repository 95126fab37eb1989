package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bidroom/bidroom/decrypt"
	"github.com/bidroom/bidroom/rooms"
	"github.com/bidroom/bidroom/store/blobs"
)

// demoSheets are the demo bids' opening sheets: the third is above the
// control price (12,800,000) and more than 10 % off the budget, so the
// read-out shows a flagged row.
var demoSheets = map[string]decrypt.Sheet{
	"bidder-a": {Price: "11680000.00", Duration: "300日历天", Quality: "合格", ProjectManager: "张建国"},
	"bidder-b": {Price: "11925500.00", Duration: "280日历天", Quality: "合格", ProjectManager: "李明"},
	"bidder-c": {Price: "12960000.00", Duration: "320日历天", Quality: "合格", ProjectManager: "王磊"},
}

// submitDemoBid seals a small sample bid for bidder with its key and files
// it as the upload endpoint would: stored by its SM3, then submit_bid.
func submitDemoBid(ctx context.Context, svc *rooms.Service, store *blobs.Store, room, bidder string, key *decrypt.PrivateKey) error {
	sheet, ok := demoSheets[bidder]
	if !ok {
		return fmt.Errorf("no demo sheet for %s", bidder)
	}
	body := []byte(strings.Repeat("示范投标文件：城东污水处理厂提标改造工程施工。"+bidder+"\n", 200))
	var sealed bytes.Buffer
	sum, err := decrypt.Seal(&sealed, bytes.NewReader(body), decrypt.SealOptions{
		SessionID: room, BidderID: bidder, Size: int64(len(body)), Signer: key, Sheet: sheet,
	})
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	id, err := store.CreateUpload(int64(sealed.Len()), "demo/"+room+"/"+bidder)
	if err != nil {
		return err
	}
	if _, err := store.Append(id, 0, bytes.NewReader(sealed.Bytes())); err != nil {
		return err
	}
	digest, size, err := store.Complete(id)
	if err != nil {
		return err
	}
	hd := sum.Header.Digest()
	data, _ := json.Marshal(rooms.Bid{Bidder: bidder, Digest: digest, Size: size, HeaderDigest: hex.EncodeToString(hd[:])})
	_, err = svc.Execute(ctx, room, rooms.Actor{Sub: bidder, Role: rooms.RoleBidder}, rooms.Command{ID: "demo-bid", Type: rooms.CmdSubmitBid, Data: data})
	return err
}
