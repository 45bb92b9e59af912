package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"linkdesk/db"
	"linkdesk/views"
)

var customerTestActor = db.Actor{Email: "system", IP: "127.0.0.1"}

// sampleCustomerImport creates a pending upload for the route table test.
func sampleCustomerImport(t *testing.T, s *testServer) string {
	t.Helper()
	ci, err := s.store.CreateCustomerImport(context.Background(), customerTestActor, "sample.csv",
		strings.NewReader("end_user_id,full_name,date_of_birth,ssn_last4\nsample_1,Sam Ple,1990-01-01,1234\n"))
	if err != nil {
		t.Fatal(err)
	}
	return ci.ID
}

// uploadCSV posts a file as multipart/form-data.
func (s *testServer) uploadCSV(t *testing.T, target, filename, content string, cookie *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(content))
	mw.Close()
	req := httptest.NewRequest("POST", target, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.RemoteAddr = "192.0.2.10:1234"
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestCustomers_Import(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := s.login(t, "admin@example.com")
	csv := "\uFEFFFull_Name,END_USER_ID,date_of_birth,ssn_last4,email\r\n" +
		"Ash Userton,u1,1990-04-28,1234,ash@example.com\r\n" +
		"Maria Garcia,u2,1985-01-02,0042,\r\n" +
		",u3,1990-02-30,123,nope@\r\n" +
		"Ash Again,u1,1990-04-28,1234,\r\n"

	rec := s.uploadCSV(t, "/customers/import", "people.csv", csv, c)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/customers/import/") {
		t.Fatalf("upload: got %d %q: %s", rec.Code, loc, rec.Body.String())
	}
	c = updatedCookie(rec, c)

	t.Run("the report lists bad rows by line; nothing is imported yet", func(t *testing.T) {
		page := s.do(t, "GET", loc, nil, c)
		c = updatedCookie(page, c)
		body := page.Body.String()
		for _, want := range []string{
			"Import 2 rows", `<td class="num">4</td>`, `<td class="num">5</td>`, "<code>full_name</code> Enter the full name", "<code>date_of_birth</code> Enter a real date",
			"<code>ssn_last4</code> Enter exactly 4 digits", "also on line 2", "••••-••-28", "••42",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("report lacks %q", want)
			}
		}
		if strings.Contains(body, "1990-04-28") || strings.Contains(body, ">0042<") {
			t.Error("the report shows an unmasked date of birth or SSN digits")
		}
		if list, _, _ := s.store.ListCustomers(ctx, db.CustomerFilter{}); len(list) != 0 {
			t.Fatalf("%d customers before the confirmation", len(list))
		}
	})
	t.Run("auditors and operators cannot upload or confirm", func(t *testing.T) {
		for _, role := range []string{"auditor", "operator"} {
			rc := s.login(t, role+"@example.com")
			if rec := s.uploadCSV(t, "/customers/import", "x.csv", csv, rc); rec.Code != http.StatusForbidden {
				t.Errorf("%s upload: got %d, want 403", role, rec.Code)
			}
			if rec := s.do(t, "POST", loc+"/confirm", url.Values{}, rc); rec.Code != http.StatusForbidden {
				t.Errorf("%s confirm: got %d, want 403", role, rec.Code)
			}
		}
	})
	t.Run("confirm imports the good rows with one audit row", func(t *testing.T) {
		rec := s.do(t, "POST", loc+"/confirm", url.Values{}, c)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != loc {
			t.Fatalf("confirm: got %d %s", rec.Code, rec.Header().Get("Location"))
		}
		c = updatedCookie(rec, c)
		page := s.do(t, "GET", loc, nil, c)
		c = updatedCookie(page, c)
		if body := page.Body.String(); !strings.Contains(body, "2 records created") || strings.Contains(body, "Import 2 rows") {
			t.Fatal("the report does not show the result, or still offers the import")
		}
		list, _, _ := s.store.ListCustomers(ctx, db.CustomerFilter{})
		if len(list) != 2 || list[0].EndUserID != "u1" || list[1].SSNLast4 != "0042" {
			t.Fatalf("customers %+v", list)
		}
		rows, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionCustomersImported})
		if len(rows) != 1 || !strings.Contains(rows[0].Detail, `"created":2`) || !strings.Contains(rows[0].Detail, `"bad_rows":2`) || rows[0].ActorEmail != "admin@example.com" {
			t.Fatalf("audit %+v", rows)
		}
		again := s.do(t, "POST", loc+"/confirm", url.Values{}, c)
		c = updatedCookie(again, c)
		if list, _, _ := s.store.ListCustomers(ctx, db.CustomerFilter{}); len(list) != 2 {
			t.Fatal("a second confirmation changed something")
		}
	})
	t.Run("re-import updates", func(t *testing.T) {
		rec := s.uploadCSV(t, "/customers/import", "update.csv", "end_user_id,full_name,date_of_birth,ssn_last4\nu1,Ash Userton,1990-04-29,1234\nu2,Maria Garcia,1985-01-02,0042\n", c)
		next := rec.Header().Get("Location")
		c = updatedCookie(rec, c)
		rec = s.do(t, "POST", next+"/confirm", url.Values{}, c)
		c = updatedCookie(rec, c)
		cu, _ := s.store.CustomerByEndUserID(ctx, "u1")
		if cu.DateOfBirth != "1990-04-29" || cu.Email != "" {
			t.Fatalf("u1 %+v, want the new DOB and no email", cu)
		}
		rows, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionCustomersImported})
		if len(rows) != 2 || !strings.Contains(rows[0].Detail, `"updated":1`) || !strings.Contains(rows[0].Detail, `"unchanged":1`) {
			t.Fatalf("audit %+v", rows)
		}
	})
	t.Run("file problems re-render the form", func(t *testing.T) {
		rec := s.uploadCSV(t, "/customers/import", "bad.csv", "id,name\n1,x\n", c)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "The header row lacks end_user_id") {
			t.Fatalf("got %d", rec.Code)
		}
		rec = s.do(t, "POST", "/customers/import", url.Values{}, c)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Choose a CSV file") {
			t.Fatalf("no file: got %d", rec.Code)
		}
		if rec := s.do(t, "GET", "/customers/import/nope", nil, c); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "Upload the file again") {
			t.Fatalf("unknown upload: got %d", rec.Code)
		}
	})
}

func TestCustomers_ShowAndEdit(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	admin := s.login(t, "admin@example.com")
	if _, _, err := s.store.SaveCustomer(ctx, customerTestActor, db.CustomerInput{EndUserID: "u1", FullName: "Ash Userton", DateOfBirth: "1990-04-28", SSNLast4: "1234"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.RecordIdentityVerdict(ctx, "acct_1", "u1", db.IdentityData{FullName: "Ash Userton", DateOfBirth: "1990-04-28", LastFourSSN: "9999"}, ""); err != nil {
		t.Fatal(err)
	}

	t.Run("masked for everyone in the list; operators see a masked record", func(t *testing.T) {
		for _, role := range db.Roles {
			rc := s.login(t, role+"@example.com")
			body := s.do(t, "GET", "/customers", nil, rc).Body.String()
			if !strings.Contains(body, "••••-••-28") || !strings.Contains(body, "••34") || strings.Contains(body, "1990-04-28") || strings.Contains(body, "1234") {
				t.Errorf("%s: list not masked", role)
			}
		}
		op := s.login(t, "operator@example.com")
		body := s.do(t, "GET", "/customers/u1", nil, op).Body.String()
		if strings.Contains(body, "1990-04-28") || strings.Contains(body, "<form action=\"/customers/u1\"") {
			t.Error("operator sees the unmasked DOB or the edit form")
		}
		if !strings.Contains(body, "partly matches the customer record") || !strings.Contains(body, "SSN last four differs") {
			t.Error("no identity verdict badge")
		}
	})
	t.Run("admins edit; errors keep the input", func(t *testing.T) {
		page := s.do(t, "GET", "/customers/u1", nil, admin)
		admin = updatedCookie(page, admin)
		body := page.Body.String()
		if !strings.Contains(body, `value="Ash Userton"`) {
			t.Fatal("the admin's form lacks the name")
		}
		if strings.Contains(body, "1990-04-28") || strings.Contains(body, "1234") {
			t.Fatal("the admin's form shows the date of birth or SSN last four without a Reveal")
		}
		for _, w := range []string{`placeholder="••••-••-28 (leave blank to keep)"`, `placeholder="••34 (leave blank to keep)"`} {
			if !strings.Contains(body, w) {
				t.Errorf("the form lacks %s", w)
			}
		}
		rec := s.do(t, "POST", "/customers/u1", url.Values{"full_name": {"Ash Userton"}, "date_of_birth": {"2999-01-01"}, "ssn_last4": {"12"}, "email": {"a@"}}, admin)
		body = rec.Body.String()
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, "must be in the past") || !strings.Contains(body, "leading zeros") || !strings.Contains(body, `value="2999-01-01"`) {
			t.Fatalf("got %d, want 422 with messages and input", rec.Code)
		}
		rec = s.do(t, "POST", "/customers/u1", url.Values{"full_name": {"Ash Userton"}, "date_of_birth": {"1990-04-28"}, "ssn_last4": {"9999"}}, admin)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/customers/u1" {
			t.Fatalf("save: got %d", rec.Code)
		}
		admin = updatedCookie(rec, admin)
		if v, _ := s.store.IdentityVerdict(ctx, "acct_1"); v.Result != db.VerdictMatch {
			t.Fatalf("verdict %+v, want match after the edit", v)
		}
		rows, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionCustomerUpdated, TargetID: "u1"})
		if len(rows) != 1 || rows[0].Detail != `{"changed":["ssn_last4"]}` {
			t.Fatalf("audit %+v", rows)
		}

		// Blank keeps the stored date of birth and SSN last four.
		rec = s.do(t, "POST", "/customers/u1", url.Values{"full_name": {"Ash Q. Userton"}, "date_of_birth": {""}, "ssn_last4": {""}}, admin)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("save with blanks: got %d %s", rec.Code, rec.Body.String())
		}
		admin = updatedCookie(rec, admin)
		if cu, _ := s.store.CustomerByEndUserID(ctx, "u1"); cu.FullName != "Ash Q. Userton" || cu.DateOfBirth != "1990-04-28" || cu.SSNLast4 != "9999" {
			t.Fatalf("after a save with blanks: %+v", cu)
		}
	})
	t.Run("an unknown end user offers a create form", func(t *testing.T) {
		for _, id := range []string{"new/user 1", "import", "..", "50%off"} {
			path := views.CustomerPath(id)
			page := s.do(t, "GET", path, nil, admin)
			admin = updatedCookie(page, admin)
			if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "Create record") {
				t.Fatalf("%q at %s: got %d", id, path, page.Code)
			}
			rec := s.do(t, "POST", path, url.Values{"full_name": {"New User"}, "date_of_birth": {"2000-01-01"}, "ssn_last4": {"0001"}}, admin)
			if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != path {
				t.Fatalf("%q create: got %d %s", id, rec.Code, rec.Header().Get("Location"))
			}
			admin = updatedCookie(rec, admin)
			if _, err := s.store.CustomerByEndUserID(ctx, id); err != nil {
				t.Fatalf("%q: %v", id, err)
			}
		}
		op := s.login(t, "operator@example.com")
		if rec := s.do(t, "GET", "/customers/nobody", nil, op); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "Create record") {
			t.Fatalf("operator on an unknown end user: got %d or a form", rec.Code)
		}
		if rec := s.do(t, "POST", "/customers/nobody", url.Values{"full_name": {"X"}}, op); rec.Code != http.StatusForbidden {
			t.Fatalf("operator POST: %d", rec.Code)
		}
	})
}

func TestCustomers_PaginationAndSearch(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	for i := range 60 {
		if _, _, err := s.store.SaveCustomer(ctx, customerTestActor, db.CustomerInput{EndUserID: fmt.Sprintf("user_%03d", i), FullName: "Person", DateOfBirth: "1980-01-01", SSNLast4: "0000"}); err != nil {
			t.Fatal(err)
		}
	}
	c := s.login(t, "auditor@example.com")
	body := s.do(t, "GET", "/customers", nil, c).Body.String()
	if !strings.Contains(body, `href="/customers?after=user_049" rel="next"`) || strings.Contains(body, "user_050") {
		t.Fatal("page 1 lacks the next link or shows too much")
	}
	mustContain(t, "the count line", body, `id="list-count" role="status">60 customer records; 50 on this page</p>`)
	body = s.do(t, "GET", "/customers?after=user_049", nil, c).Body.String()
	if !strings.Contains(body, "user_050") || !strings.Contains(body, "user_059") || strings.Contains(body, `rel="next"`) {
		t.Fatal("page 2 is wrong")
	}
	body = s.do(t, "GET", "/customers?q=user_01", nil, c).Body.String()
	if strings.Count(body, `<code class="id">user_01`) != 10 || strings.Contains(body, "user_020") {
		t.Fatal("prefix search is wrong")
	}
	mustContain(t, "the filtered count and its chip", body, `id="list-count" role="status">10 of 60 customer records match</p>`,
		`End user ID starts with: <strong>user_01</strong></span> <span class="chip-n">10</span>`, `href="/customers" class="chip-x"`)
	if !strings.Contains(s.do(t, "GET", "/", nil, c).Body.String(), `href="/customers"`) {
		t.Fatal("no Customers nav entry")
	}
}
