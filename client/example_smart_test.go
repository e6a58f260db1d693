package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
)

// A hospital application gets a SMART Backend Services token with its
// ledger key and calls the FHIR API with it.
func ExampleClient_Token() {
	key, err := keyfile.Load("lab-app.key.json")
	if err != nil {
		log.Fatal(err)
	}
	c := client.New("http://127.0.0.1:26680")
	tok, err := c.Token(context.Background(), key, "system/Observation.rs", "TREAT")
	if err != nil {
		log.Fatal(err) // e.g. invalid_client/client_revoked: …
	}
	req, _ := http.NewRequest("GET", c.URL()+"/fhir/metadata", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status, "with a token valid for", tok.ExpiresIn, "seconds; scope", tok.Scope)
}
