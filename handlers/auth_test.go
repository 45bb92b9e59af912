package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"linkdesk/db"
	"linkdesk/web"
)

// access classes of routes.
const (
	public = "public"
	anyone = "staff" // every signed-in role
	write  = "write" // admin, operator
	audit  = "audit" // admin, auditor
	admin  = "admin" // admin only
	self   = "self"  // every role, also auditors on POST (sign-out, own password)
)

// routeAccess is the access table: every route of web/routes.go and the
// class of who may use it. TestRoutes_AccessTableIsComplete fails on a
// route missing here or a line naming no route, so a new route must be
// classified here, in one place.
var routeAccess = map[string]string{
	"GET /healthz":              public,
	"GET /readyz":               public,
	"GET /metrics":              public,
	"GET /static/*":             public,
	"GET /login":                public,
	"POST /login":               public,
	"GET /login/second-factor":  public,
	"POST /login/second-factor": public,

	"GET /account/second-factor":                 anyone,
	"POST /account/second-factor":                self,
	"POST /account/second-factor/recovery-codes": self,
	"POST /account/second-factor/disable":        self,
	"POST /staff/:id/second-factor/reset":        admin,
	"POST /staff/second-factor-required":         admin,
	"POST /staff/throttles/clear":                admin,
	"POST /logout":                               self,
	"GET /account/password":                      anyone,
	"POST /account/password":                     self,
	"GET /":                                      anyone,
	"GET /audit":                                 audit,
	"GET /audit/export.csv":                      audit,
	"GET /audit/export.jsonl":                    audit,
	"POST /audit/verify":                         audit,
	"GET /audit/reveals":                         audit,
	"POST /staff/:id/access":                     admin,
	"GET /staff":                                 admin,
	"POST /staff":                                admin,
	"POST /staff/:id/role":                       admin,
	"POST /staff/:id/deactivate":                 admin,
	"POST /staff/:id/reactivate":                 admin,

	"GET /settings":                               admin,
	"POST /settings/org":                          admin,
	"POST /settings/deposit-accounts":             admin,
	"POST /settings/deposit-accounts/:id/archive": admin,
	"GET /customers":                              anyone,
	"GET /customers/import":                       admin,
	"POST /customers/import":                      admin,
	"GET /customers/import/:import_id":            admin,
	"POST /customers/import/:import_id/confirm":   admin,
	"GET /customers/:end_user_id":                 anyone,
	"POST /customers/:end_user_id":                admin,

	"GET /l/:id":                        public,
	"POST /l/:id/events":                public,
	"POST /webhooks/pinwheel":           public, // Pinwheel signs its posts; there is no session
	"GET /accounts/:account_id/update":  write,
	"POST /accounts/:account_id/update": write,
	"GET /tokens":                       anyone,
	"GET /tokens/:token_id":             anyone,
	"POST /tokens/:token_id/revoke":     write,

	"GET /search":                       anyone,
	"GET /accounts":                     anyone,
	"GET /accounts/:account_id":         anyone,
	"POST /accounts/:account_id/reveal": self, // auditors too: it only writes an audit row
	"GET /accounts/:account_id/live":    anyone,
	"GET /end-users":                    anyone,
	"GET /end-users/:end_user_id":       anyone,
	"GET /end-users/:end_user_id/live":  anyone,
	"GET /events":                       anyone,
	"GET /events/rejected":              anyone,
	"GET /events/export.csv":            anyone,
	"GET /events/export.jsonl":          anyone,
	"GET /events/:event_id":             anyone,

	"GET /accounts/:account_id/income":                     anyone,
	"GET /accounts/:account_id/income.json":                anyone,
	"GET /accounts/:account_id/paystubs.csv":               anyone,
	"POST /accounts/:account_id/income/refresh":            write,
	"POST /accounts/:account_id/income/decisions":          write,
	"GET /end-users/:end_user_id/income":                   anyone,
	"GET /end-users/:end_user_id/income.json":              anyone,
	"GET /end-users/:end_user_id/paystubs.csv":             anyone,
	"POST /end-users/:end_user_id/income/decisions":        write,
	"POST /settings/underwriting":                          admin,
	"GET /events/:event_id/raw":                            anyone,
	"GET /events/rejected/:rejection_id/raw":               anyone,
	"GET /tokens/:token_id/events/:launch_event_id/raw":    anyone,
	"GET /accounts/:account_id/snapshots/:snapshot_id/raw": anyone,
	"GET /monitoring":                                      anyone,
	"POST /monitoring/reconnect":                           write,
	"GET /monitoring/reconnect/:batch_id":                  anyone,
	"GET /monitoring/reconnect/:batch_id/live":             anyone,
	"GET /monitoring/reconnect/:batch_id/links.csv":        write, // each link opens Link for its user
	"GET /monitoring/reconnect/:batch_id/links.jsonl":      write,
	"GET /alerts":                                      anyone,
	"GET /alerts/settings":                             admin,
	"POST /alerts/settings":                            admin,
	"POST /alerts/destinations":                        admin,
	"GET /alerts/destinations/:destination_id":         admin,
	"POST /alerts/destinations/:destination_id":        admin,
	"POST /alerts/destinations/:destination_id/rotate": admin,
	"POST /alerts/destinations/:destination_id/test":   admin,
	"GET /alerts/destinations/:destination_id/live":    admin,
	"GET /alerts/:alert_id":                            anyone,
	"POST /alerts/:alert_id/acknowledge":               write,
	"POST /alerts/:alert_id/snooze":                    write,
	"POST /alerts/:alert_id/resolve":                   write,
	"POST /alerts/:alert_id/reconcile":                 write,
	"POST /accounts/:account_id/reconcile":             write,

	"GET /accounts/:account_id/evidence.zip":    audit,
	"GET /end-users/:end_user_id/evidence.zip":  audit,
	"GET /end-users/:end_user_id/erase":         admin,
	"POST /end-users/:end_user_id/erase":        admin,
	"POST /settings/retention":                  admin,
	"GET /campaigns":                            anyone,
	"GET /campaigns/new":                        write,
	"POST /campaigns":                           write,
	"GET /campaigns/cohort":                     anyone,
	"GET /campaigns/:campaign_id":               anyone,
	"GET /campaigns/:campaign_id/edit":          write,
	"POST /campaigns/:campaign_id":              write,
	"POST /campaigns/:campaign_id/approve":      admin,
	"POST /campaigns/:campaign_id/launch":       write,
	"POST /campaigns/:campaign_id/pause":        write,
	"POST /campaigns/:campaign_id/resume":       write,
	"POST /campaigns/:campaign_id/cancel":       write,
	"POST /campaigns/:campaign_id/end":          write,
	"POST /campaigns/:campaign_id/payouts":      admin,
	"GET /campaigns/:campaign_id/progress":      anyone,
	"GET /campaigns/:campaign_id/members":       anyone,
	"GET /campaigns/:campaign_id/members.csv":   anyone,
	"GET /campaigns/:campaign_id/members.jsonl": anyone,
	"POST /settings/campaigns":                  admin,

	"GET /account":                                    anyone,
	"POST /account/time-zone":                         self,
	"GET /live":                                       anyone,
	"GET /dashboard/live":                             anyone,
	"GET /tokens/live":                                anyone,
	"GET /tokens/:token_id/live":                      anyone,
	"GET /tokens/:token_id/revoke":                    write,
	"GET /staff/:id/role":                             admin,
	"GET /staff/:id/deactivate":                       admin,
	"GET /settings/deposit-accounts/:id/archive":      admin,
	"GET /staff/:id/second-factor/reset":              admin,
	"GET /alerts/destinations/:destination_id/rotate": admin,
	"GET /campaigns/:campaign_id/launch":              write,
	"GET /campaigns/:campaign_id/cancel":              write,
	"GET /campaigns/:campaign_id/end":                 write,
	"GET /campaigns/:campaign_id/payouts":             admin,
}

func allowed(class, role string) bool {
	switch class {
	case public, anyone, self:
		return true
	case write:
		return role == db.RoleAdmin || role == db.RoleOperator
	case audit:
		return role == db.RoleAdmin || role == db.RoleAuditor
	case admin:
		return role == db.RoleAdmin
	}
	return false
}

// samplePath fills path parameters with values that exist.
func samplePath(path string, ids map[string]string) string {
	for k, v := range ids {
		path = strings.ReplaceAll(path, k, v)
	}
	return strings.ReplaceAll(path, "/*", "/css/app.css")
}

// registeredRoutes lists the routes of web/routes.go as "METHOD /path".
func registeredRoutes(s *testServer) []string {
	var out []string
	for _, r := range web.Routes(s.h) {
		if r.Method != "echo_route_not_found" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func TestRoutes_AccessTableIsComplete(t *testing.T) {
	s := newServer(t)
	seen := map[string]bool{}
	for _, key := range registeredRoutes(s) {
		seen[key] = true
		if _, ok := routeAccess[key]; !ok {
			t.Errorf("route %s is not classified in routeAccess", key)
		}
	}
	for key := range routeAccess {
		if !seen[key] {
			t.Errorf("routeAccess names %s, which web/routes.go does not register", key)
		}
	}
}

func TestRoutes_AnonymousGoToLogin(t *testing.T) {
	s := newServer(t)
	for _, key := range registeredRoutes(s) {
		if routeAccess[key] == public {
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		rec := s.do(t, method, samplePath(path, sampleIDs(t, s)), url.Values{})
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("anonymous %s: got %d %q, want 303 to /login", key, rec.Code, loc)
		}
	}
}

// sampleIDs returns path parameter values that exist in the test DB.
func sampleIDs(t *testing.T, s *testServer) map[string]string {
	list, err := s.store.ListStaff(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{":id": "1"}
	for _, st := range list {
		if st.Role == db.RoleAuditor {
			ids[":id"] = itoa(st.ID)
		}
	}
	// An unknown end user's page answers 200 (with a create form for admins).
	ids[":end_user_id"] = "sample_end_user"
	// ":id" also names a deposit account (the archive's question answers
	// 200 only for one that exists).
	ensureDepositAccount(t, s, ids[":id"])
	for k, create := range sampleFixtures {
		ids[k] = create(t, s)
	}
	return ids
}

// sampleFixtures create rows that a path parameter must name to answer 200
// (they live in their feature's test file) and return the parameter's value.
var sampleFixtures = map[string]func(t *testing.T, s *testServer) string{
	":import_id":  sampleCustomerImport,
	":account_id": sampleAccount,
	":token_id":   sampleToken,
	":event_id":   sampleEvent,

	":rejection_id":    sampleRejection,
	":launch_event_id": sampleLaunchEvent,
	":snapshot_id":     sampleSnapshot,
	":batch_id":        sampleBatch,
	":alert_id":        sampleAlert,
	":destination_id":  sampleDestination,
	":campaign_id":     sampleCampaign,
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// ensureDepositAccount creates deposit accounts until one has the id.
func ensureDepositAccount(t *testing.T, s *testServer, id string) {
	t.Helper()
	ctx := context.Background()
	for {
		list, err := s.store.ListDepositAccounts(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if itoa(d.ID) == id {
				return
			}
		}
		if len(list) > 20 {
			t.Fatalf("no deposit account %s", id)
		}
		_, err = s.store.CreateDepositAccount(ctx, db.Actor{Email: "system"}, db.DepositAccountCreate{
			Name: "Sample " + itoa(int64(len(list))), Type: db.AccountChecking, RoutingNumber: "021000021", AccountNumber: "123456789"})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRoutes_AccessByRole(t *testing.T) {
	for _, role := range db.Roles {
		t.Run(role, func(t *testing.T) {
			s := newServer(t)
			cookie := s.login(t, role+"@example.com")
			for _, key := range registeredRoutes(s) {
				class := routeAccess[key]
				if class == "" || class == public || key == "POST /logout" {
					continue
				}
				method, path, _ := strings.Cut(key, " ")
				// A form that changes nothing harmful: role "bogus" and empty fields are refused by validation.
				form := url.Values{"role": {"bogus"}}
				rec := s.do(t, method, samplePath(path, sampleIDs(t, s)), form, cookie)
				want := allowed(class, role)
				switch {
				case !want && rec.Code != http.StatusForbidden:
					t.Errorf("%s as %s: got %d, want 403", key, role, rec.Code)
				case want && method == http.MethodGet && rec.Code != http.StatusOK:
					t.Errorf("%s as %s: got %d, want 200", key, role, rec.Code)
				case want && (rec.Code == http.StatusForbidden || rec.Code >= 500 || strings.HasPrefix(rec.Header().Get("Location"), "/login")):
					t.Errorf("%s as %s: got %d %s, want it allowed", key, role, rec.Code, rec.Header().Get("Location"))
				}
			}
		})
	}
}
