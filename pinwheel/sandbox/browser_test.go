package sandbox_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linkdesk/browsertest"
	"linkdesk/pinwheel"
)

// hostPage is the integrating app's page: a strict CSP that allows scripts
// and frames only from the emulator's origin (plus the page's own nonce'd
// script), link.js from the emulator, and callbacks logged into a <pre>.
const hostPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>host</title>
<script src="%[1]s/link.js"></script>
</head><body>
<button id="open" type="button">Connect payroll</button>
<pre id="log"></pre>
<script nonce="%[2]s">
(function () {
  var log = document.getElementById("log");
  function add(name, payload) { log.textContent += name + " " + JSON.stringify(payload) + "\n"; }
  document.addEventListener("securitypolicyviolation", function (e) { add("CSP", e.violatedDirective + " " + e.blockedURI); });
  document.getElementById("open").addEventListener("click", function () {
    Pinwheel.open({
      linkToken: %[3]q,
      onEvent: function (name, payload) { add("onEvent:" + name, payload); },
      onLogin: function (p) { add("onLogin", p); },
      onLoginAttempt: function (p) { add("onLoginAttempt", p); },
      onSuccess: function (p) { add("onSuccess", p); },
      onError: function (p) { add("onError", p); },
      onExit: function (p) { add("onExit", p); }
    });
  });
})();
</script>
</body></html>`

func TestBrowser_LinkModal(t *testing.T) {
	execPath := browsertest.Chromium(t)

	// Servers first: cleanups run last-in first-out, so the browser (set up
	// below) is stopped before these servers close.
	e := newEnv(t)
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, "2023-11-22", "account.added", "identity.added", "income.added")
	tok := e.token(map[string]any{"org_name": "Browser Test", "required_jobs": []string{"identity", "income"},
		"end_user_id": "eu-browser"})

	nonceBytes := make([]byte, 16)
	_, _ = rand.Read(nonceBytes)
	nonce := hex.EncodeToString(nonceBytes)
	emuOrigin := strings.TrimSuffix(e.srv.URL, "/")
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", fmt.Sprintf(
			"default-src 'none'; script-src %s 'nonce-%s'; frame-src %s; base-uri 'none'; form-action 'none'",
			emuOrigin, nonce, emuOrigin))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, hostPage, e.base, nonce, tok.Token)
	}))
	t.Cleanup(page.Close)
	if page.URL == emuOrigin {
		t.Fatal("host page and emulator must have different origins")
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelTimeout()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			logText, _ := chromedp.Run(dctx, chromedp.Text(chromedp.ID("log")))
			t.Fatalf("%s: %v\npage log:\n%s", what, err, logText)
		}
	}
	waitLog := func(want string) string {
		t.Helper()
		var text string
		var err error
		waitFor(t, "page log to show "+want, 20*time.Second, func() bool {
			text, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("log")))
			return err == nil && strings.Contains(text, want)
		})
		return text
	}

	step("open the host page", chromedp.Navigate(page.URL), chromedp.Click(chromedp.ID("open")))
	// The open event reaches the page only once the iframe's own document
	// has loaded and called the link-api, so its node is final from here.
	waitLog("onEvent:open {}")
	frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("iframe#pinwheel-link-frame")))
	if err != nil || len(frames) == 0 {
		t.Fatalf("no Link iframe: %v", err)
	}
	in := chromedp.FromNode(frames[0])

	step("intro", chromedp.WaitVisible(chromedp.CSS("#continue"), in), chromedp.Click(chromedp.CSS("#continue"), in))
	step("search", chromedp.WaitVisible(chromedp.CSS("#search"), in), chromedp.SendKeys(chromedp.CSS("#search"), "Workday", in))
	pick := chromedp.CSS(`button.result[data-id="` + workday + `"]`)
	step("pick Workday", chromedp.WaitVisible(pick, in), chromedp.Click(pick, in))
	step("log in",
		chromedp.WaitVisible(chromedp.CSS("#username"), in),
		chromedp.SendKeys(chromedp.CSS("#username"), "user_good", in),
		chromedp.SendKeys(chromedp.CSS("#password"), "pass_good", in),
		chromedp.Click(chromedp.CSS("#login-submit"), in))
	step("success screen", chromedp.WaitVisible(chromedp.CSS("#done"), in))

	text := waitLog("onSuccess ")
	for _, want := range []string{"onEvent:open {}", "onEvent:select_platform ", "onLoginAttempt {\"platformId\":\"" + workday,
		"onLogin {\"platformId\":\"" + workday + "\",\"accountId\":\"", "onEvent:login ", "onSuccess {\"accountId\":\"",
		`"job":"login"`, `onEvent:other_event {"name":"input_submit"`, `onEvent:screen_transition {"screenName":"JOB_SUCCESS"}`} {
		if !strings.Contains(text, want) {
			t.Errorf("page log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "CSP ") {
		t.Errorf("CSP violations on the host page:\n%s", text)
	}

	step("close", chromedp.Click(chromedp.CSS("#done"), in))
	text = waitLog("onExit ")
	step("modal removed", chromedp.WaitNotPresent(chromedp.CSS("iframe#pinwheel-link-frame")))

	// The account from onLogin got signed webhooks.
	prefix := `onLogin {"platformId":"` + workday + `","accountId":"`
	i := strings.Index(text, prefix) + len(prefix)
	account := text[i : i+36]
	rc.waitEvent(t, account, "income.added")
	waitFor(t, "the three subscribed events", time.Minute, func() bool {
		seen := map[string]bool{}
		for _, name := range rc.events(account) {
			seen[name] = true
		}
		return seen[pinwheel.EventAccountAdded] && seen[pinwheel.EventIdentityAdded] && seen[pinwheel.EventIncomeAdded]
	})
	for _, d := range rc.all() {
		if d.Err != nil {
			t.Errorf("%s: %v", d.Event.Event, d.Err)
		}
	}
}
