package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
)

// BenchmarkSearch measures the header search at 100,000 end users: a
// customer record for each (a name from a mix of 400 first names and
// 2,000 surnames, some with accents, and an email), indexed as a CSV
// import indexes them, plus the Store's other searches (IDs, platforms).
//
//	go test ./db -run '^$' -bench Search -benchtime 2000x
//
// The database is built once (about a minute) and kept in
// $TMPDIR/linkdesk-search-bench-100000.db for later runs; delete it to
// build it again. LINKDESK_SEARCH_BENCH_N changes the size.
func BenchmarkSearch(b *testing.B) {
	n := 100000
	if v := os.Getenv("LINKDESK_SEARCH_BENCH_N"); v != "" {
		fmt.Sscan(v, &n)
	}
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("linkdesk-search-bench-%d.db", n))
	_, statErr := os.Stat(path)
	s, err := db.Open(ctx, path, db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if statErr != nil {
		start := time.Now()
		buildSearchBench(b, s, n)
		b.Logf("built %d customer records in %v", n, time.Since(start).Round(time.Second))
	}
	queries := []struct{ name, q string }{
		{"name, another order, no accents", "garcia liam"},
		{"name, exact", "Liam García"},
		{"first name prefix (common)", "li"},
		{"surname, common", "smith"},
		{"two common words", "maria smith"},
		{"email", "liam.garcia.21@example.com"},
		{"email prefix", "liam.garcia"},
		{"end user id", "bench-user-054321"},
		{"nothing", "zzqx"},
	}
	for _, c := range queries {
		b.Run(c.name, func(b *testing.B) {
			var hits int
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				h, err := s.Search(ctx, c.q)
				took = append(took, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				hits = len(h)
			}
			slices.Sort(took)
			b.ReportMetric(float64(hits), "hits")
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// buildSearchBench imports n customer records in CSV files of 50,000.
func buildSearchBench(b *testing.B, s *db.Store, n int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, 17))
	firsts := []string{"Liam", "María", "Noah", "Olivia", "José", "Zoë", "Chloé", "Björn", "Mateo", "Aisha", "Kenji", "Priya", "Siobhán", "Wei", "Fatima"}
	for len(firsts) < 400 {
		firsts = append(firsts, syllables(rng, 2+rng.IntN(2)))
	}
	lasts := []string{"García", "Smith", "Núñez", "Müller", "O'Brien", "Nguyễn", "Johnson", "Okafor", "Kowalski", "Søndergaard"}
	for len(lasts) < 2000 {
		lasts = append(lasts, syllables(rng, 2+rng.IntN(3)))
	}
	admin := db.Actor{Email: "bench"}
	for from := 0; from < n; from += 50000 {
		var csv strings.Builder
		csv.WriteString("end_user_id,full_name,date_of_birth,ssn_last4,email\n")
		for i := from; i < min(n, from+50000); i++ {
			first, last := firsts[rng.IntN(len(firsts))], lasts[rng.IntN(len(lasts))]
			if i == 54321 {
				first, last = "Liam", "García"
			}
			email := fmt.Sprintf("%s.%s.%d@example.com", asciiLower(first), asciiLower(last), i%100)
			fmt.Fprintf(&csv, "bench-user-%06d,%s %s,1980-01-02,%04d,%s\n", i, first, last, i%10000, email)
		}
		ci, err := s.CreateCustomerImport(ctx, admin, "bench.csv", strings.NewReader(csv.String()))
		if err != nil {
			b.Fatal(err)
		}
		if ci.BadCount > 0 {
			b.Fatalf("bad rows: %+v", ci.Bad[:min(3, len(ci.Bad))])
		}
		if _, err := s.ConfirmCustomerImport(ctx, admin, ci.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func syllables(rng *rand.Rand, k int) string {
	parts := []string{"ka", "lo", "mi", "ra", "sen", "tor", "va", "li", "an", "del", "ve", "ro", "sa", "ni", "bel", "qu", "zé", "ñu", "ar", "en"}
	var b strings.Builder
	for range k {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	r := []rune(b.String())
	return strings.ToUpper(string(r[0])) + string(r[1:])
}

// asciiLower is a name as an email's local part: lowercase, accents and
// apostrophes gone.
func asciiLower(s string) string {
	r := strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "ë", "e", "ö", "o", "ü", "u", "ø", "o",
		"ễ", "e", "'", "", "É", "e", "Ñ", "n", "Z", "z")
	return strings.ToLower(r.Replace(s))
}
