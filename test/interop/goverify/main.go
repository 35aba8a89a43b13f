// Command goverify checks certificates the way Kubernetes components do, using only Go's
// crypto/x509 and crypto/tls. It reads a JSON array of checks on stdin and prints a JSON array
// of results, one per check, in the same order.
//
// A "verify" check (the default kind) loads the first CERTIFICATE block of cert as the leaf and
// any further blocks as intermediates, puts every CERTIFICATE block of roots into the root pool,
// and calls Certificate.Verify with KeyUsages [ServerAuth], [ClientAuth] or [Any] and, when host
// is set, DNSName = host (Go matches an IP host against IP SANs). This is what a client-go TLS
// client does for a serving certificate and what kube-apiserver and etcd do for a client
// certificate.
//
// A "keypair" check loads cert and key with tls.LoadX509KeyPair, as kube-apiserver does for every
// cert/key flag pair and client-go does for kubeconfig credentials.
//
// The error field holds Go's exact error text.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

type check struct {
	Kind  string `json:"kind"`
	Cert  string `json:"cert"`
	Key   string `json:"key"`
	Roots string `json:"roots"`
	Usage string `json:"usage"`
	Host  string `json:"host"`
	At    string `json:"at"`
}

type result struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func main() {
	var checks []check
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&checks); err != nil {
		fmt.Fprintln(os.Stderr, "goverify: reading checks from stdin:", err)
		os.Exit(2)
	}
	results := make([]result, len(checks))
	for i, c := range checks {
		var err error
		switch c.Kind {
		case "", "verify":
			err = verify(c)
		case "keypair":
			_, err = tls.LoadX509KeyPair(c.Cert, c.Key)
		default:
			fmt.Fprintf(os.Stderr, "goverify: check %d: unknown kind %q\n", i, c.Kind)
			os.Exit(2)
		}
		if err != nil {
			results[i] = result{OK: false, Error: err.Error()}
		} else {
			results[i] = result{OK: true}
		}
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "goverify: writing results:", err)
		os.Exit(2)
	}
}

func verify(c check) error {
	usage, err := keyUsage(c.Usage)
	if err != nil {
		return err
	}
	certs, err := readCerts(c.Cert)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	rootCerts, err := readCerts(c.Roots)
	if err != nil {
		return err
	}
	for _, r := range rootCerts {
		roots.AddCert(r)
	}
	intermediates := x509.NewCertPool()
	for _, ic := range certs[1:] {
		intermediates.AddCert(ic)
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{usage},
		DNSName:       c.Host,
	}
	if c.At != "" {
		at, err := time.Parse(time.RFC3339, c.At)
		if err != nil {
			return fmt.Errorf("goverify: bad time %q: %w", c.At, err)
		}
		opts.CurrentTime = at
	}
	_, err = certs[0].Verify(opts)
	return err
}

func keyUsage(name string) (x509.ExtKeyUsage, error) {
	switch name {
	case "server":
		return x509.ExtKeyUsageServerAuth, nil
	case "client":
		return x509.ExtKeyUsageClientAuth, nil
	case "any":
		return x509.ExtKeyUsageAny, nil
	}
	return 0, fmt.Errorf("goverify: usage must be server, client or any, not %q", name)
}

// readCerts returns every CERTIFICATE block of a PEM file, in order.
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no CERTIFICATE PEM block", path)
	}
	return certs, nil
}
