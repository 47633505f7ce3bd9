package auth_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/rosterhq/roster/auth"
)

// provider is a real OpenID provider for the specs of sign-in through an
// identity provider: zitadel/oidc's example server, in-process, on its own
// port, with its own login page, keys and token endpoint. The specs add
// its users and clients; tamper, when set, rewrites the authorization
// requests it gets (to make it sign a token with another nonce).
type provider struct {
	srv       *httptest.Server
	issuer    string
	endpoints struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
		UserInfo  string `json:"userinfo_endpoint"`
	}
	users    *providerUsers
	clients  map[string]*storage.Client
	lifetime map[string]time.Duration // id token lifetimes other than the example's hour, by client

	mu     sync.Mutex
	tamper func(q url.Values)
}

// startProvider runs a provider until the enclosing container ends.
func startProvider() *provider {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	p := &provider{issuer: "http://" + l.Addr().String(), users: &providerUsers{m: map[string]*storage.User{}},
		clients: map[string]*storage.Client{}, lifetime: map[string]time.Duration{}}
	st := &providerStorage{Storage: storage.NewStorageWithClients(p.users, p.clients), lifetime: p.lifetime}
	router := exampleop.SetupServer(p.issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		tamper := p.tamper
		p.mu.Unlock()
		if tamper != nil && r.URL.Path == "/auth" {
			q := r.URL.Query()
			tamper(q)
			r.URL.RawQuery = q.Encode()
		}
		router.ServeHTTP(w, r)
	}))
	p.srv.Listener.Close()
	p.srv.Listener = l
	p.srv.Start()
	DeferCleanup(p.srv.Close)
	resp, err := http.Get(p.issuer + "/.well-known/openid-configuration")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(json.NewDecoder(resp.Body).Decode(&p.endpoints)).To(Succeed())
	Expect(p.endpoints.Authorize).To(HavePrefix(p.issuer))
	return p
}

// providerUser is an account at the provider.
type providerUser struct {
	username, password, subject, email string
}

// addUser makes an account whose email is email.
func (p *provider) addUser(email string, verified bool) providerUser {
	u := providerUser{username: "u-" + auth.Secret()[:10], password: "upstream-" + auth.Secret()[:10], subject: "sub-" + auth.Secret()[:12], email: email}
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	p.users.m[u.subject] = &storage.User{ID: u.subject, Username: u.username, Password: u.password, FirstName: "Up", LastName: "Stream",
		Email: email, EmailVerified: verified, PreferredLanguage: language.English}
	return u
}

// addClient registers Roster at the provider: a confidential client whose
// redirect URI is Roster's callback; its id tokens live lifetime (0: an hour).
func (p *provider) addClient(callback string, lifetime time.Duration) (id, secret string) {
	id, secret = "roster-"+auth.Secret()[:8], auth.Secret()
	p.clients[id] = storage.WebClient(id, secret, callback)
	if lifetime > 0 {
		p.lifetime[id] = lifetime
	}
	return id, secret
}

// config is the identityProvider element naming this provider, as
// Medplum's fields have it (the issuer is left for Roster to discover).
func (p *provider) config(id, secret string, useSubject bool) map[string]any {
	return map[string]any{"authorizeUrl": p.endpoints.Authorize, "tokenUrl": p.endpoints.Token,
		"userInfoUrl": p.endpoints.UserInfo, "clientId": id, "clientSecret": secret, "useSubject": useSubject}
}

// rewrite makes the provider rewrite the authorization requests it gets
// until the spec ends.
func (p *provider) rewrite(f func(q url.Values)) {
	p.mu.Lock()
	p.tamper = f
	p.mu.Unlock()
	DeferCleanup(func() {
		p.mu.Lock()
		p.tamper = nil
		p.mu.Unlock()
	})
}

// host is how Roster's sign-in page names the provider.
func (p *provider) host() string { return strings.TrimPrefix(p.issuer, "http://") }

// providerUsers is the provider's user store.
type providerUsers struct {
	mu sync.Mutex
	m  map[string]*storage.User
}

func (u *providerUsers) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[id]
}

func (u *providerUsers) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, x := range u.m {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u *providerUsers) ExampleClientID() string { return storage.ServiceUserID }

// providerStorage is the example storage with id token lifetimes set per
// client (the example's clients all say an hour).
type providerStorage struct {
	*storage.Storage
	lifetime map[string]time.Duration
}

func (s *providerStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if d, ok := s.lifetime[id]; ok && err == nil {
		return shortLived{Client: c, lifetime: d}, nil
	}
	return c, err
}

type shortLived struct {
	op.Client
	lifetime time.Duration
}

func (c shortLived) IDTokenLifetime() time.Duration { return c.lifetime }

var (
	upstreamFormRe = regexp.MustCompile(`(?s)<form id="upstream-([a-z]+)" class="upstream" method="post" action="([^"]*)">(.*?)</form>`)
	providerIDRe   = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]+)">`)
)

// follow follows p's redirects while they do not lead to a URL stop accepts.
func (b *webBrowser) follow(p page, stop func(*url.URL) bool) page {
	GinkgoHelper()
	for i := 0; p.status >= 300 && p.status < 400; i++ {
		Expect(i).To(BeNumerically("<", 10), "too many redirects")
		base, err := url.Parse(p.url)
		Expect(err).NotTo(HaveOccurred())
		next, err := base.Parse(p.location)
		Expect(err).NotTo(HaveOccurred())
		if stop(next) {
			return p
		}
		p = b.get(next.String())
	}
	return p
}

// chooseUpstream presses the sign-in page's button of an identity
// provider (source "client" or "project").
func (b *webBrowser) chooseUpstream(p page, source string) page {
	GinkgoHelper()
	for _, m := range upstreamFormRe.FindAllStringSubmatch(p.body, -1) {
		if m[1] != source {
			continue
		}
		values := url.Values{}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[3], -1) {
			values.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		return b.post(p, m[2], values)
	}
	Fail("no button of the " + source + " identity provider on the page: " + p.body)
	return page{}
}

// atProvider signs in on the provider's login page, which p (Roster's
// redirect there) leads to, and answers the provider's redirect back to
// Roster, not yet followed.
func (b *webBrowser) atProvider(pr *provider, p page, u providerUser) page {
	GinkgoHelper()
	Expect(p.status).To(Equal(http.StatusSeeOther), p.body)
	Expect(p.location).To(HavePrefix(pr.endpoints.Authorize + "?"))
	login := b.follow(p, func(*url.URL) bool { return false })
	Expect(login.status).To(Equal(http.StatusOK), login.body)
	id := providerIDRe.FindStringSubmatch(login.body)
	Expect(id).NotTo(BeNil(), "the provider's login page: %s", login.body)
	form := url.Values{"id": {id[1]}, "username": {u.username}, "password": {u.password}}
	return b.follow(b.post(login, pr.issuer+"/login/username", form), func(next *url.URL) bool { return !strings.HasPrefix(next.String(), pr.issuer) })
}
