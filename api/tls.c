#include "api/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/fsutil.h"
#include "lib/util/log.h"

/* TLS 1.2 and 1.3 only; GnuTLS's NORMAL set otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* A PEM file of ours is a few KiB; a CA bundle may be larger. */
#define PEM_MAX (1 << 20)

/* MHD keeps pointers to the PEM text: it lives as long as the daemon. */
static struct {
	char *cert, *key, *ca;
} pem;

static void gnutls_credentials_freep(gnutls_certificate_credentials_t *c)
{
	if (*c)
		gnutls_certificate_free_credentials(*c);
}

/* MHD loads the files itself but says little when they are wrong: a
 * certificate that is not PEM, a key that does not match, a CA file with no
 * certificate. Checked here first, so the log names the file at fault. */
static int check_files(const struct api_tls *tls)
{
	_cleanup_(gnutls_credentials_freep) gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cert = { (unsigned char *)pem.cert, (unsigned)strlen(pem.cert) };
	gnutls_datum_t key = { (unsigned char *)pem.key, (unsigned)strlen(pem.key) };
	gnutls_datum_t ca = { (unsigned char *)pem.ca, (unsigned)strlen(pem.ca) };
	int r;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return -ENOMEM;
	r = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	if (r < 0)
		return log_error_errno(-EINVAL, "tls_cert %s with tls_key %s: %s", tls->cert, tls->key,
				       gnutls_strerror(r));
	r = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0)
		return log_error_errno(-EINVAL, "tls_ca %s: no CA certificate in it%s%s", tls->ca, r < 0 ? ": " : "",
				       r < 0 ? gnutls_strerror(r) : "");
	return 0;
}

/* Runs inside the handshake, after the client's Certificate message: a
 * non-zero return fails the handshake, so a refused client never reaches
 * HTTP. MHD itself only asks for a certificate (GNUTLS_CERT_REQUEST) and
 * never checks one; verification is ours. */
static int verify_client(gnutls_session_t s)
{
	/* a certificate for TLS servers only is no client credential */
	gnutls_typed_vdata_st purpose = { .type = GNUTLS_DT_KEY_PURPOSE_OID,
					  .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT };
	unsigned status = 0;
	gnutls_datum_t why = { NULL, 0 };

	int r = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
	if (r == 0 && status == 0)
		return 0;
	if (r == 0)
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
	log_warning("tls: client refused in the handshake: %s",
		    why.data ? (const char *)why.data : gnutls_strerror(r));
	gnutls_free(why.data);
	return GNUTLS_E_CERTIFICATE_ERROR;
}

/* Called by MHD for each new connection, before its handshake. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)socket_context;
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session) {
		/* cannot happen on a TLS daemon; without a session there is no handshake to fail */
		log_error("tls: connection without a TLS session");
		return;
	}
	gnutls_session_t s = ci->tls_session;
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_function(s, verify_client);
}

void tls_release(void)
{
	if (pem.key)
		explicit_bzero(pem.key, strlen(pem.key)); /* the private key does not linger in freed memory */
	free(pem.key);
	free(pem.cert);
	free(pem.ca);
	memset(&pem, 0, sizeof(pem));
}

static int load(const struct api_tls *tls)
{
	int r;

	if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
		return log_error_errno(-ENOTSUP, "this libmicrohttpd has no TLS support (built without GnuTLS)");
	if ((r = read_file(tls->cert, PEM_MAX, &pem.cert, NULL)) < 0)
		return log_error_errno(r, "cannot read tls_cert %s: %m", tls->cert);
	if ((r = read_file(tls->key, PEM_MAX, &pem.key, NULL)) < 0)
		return log_error_errno(r, "cannot read tls_key %s: %m", tls->key);
	if ((r = read_file(tls->ca, PEM_MAX, &pem.ca, NULL)) < 0)
		return log_error_errno(r, "cannot read tls_ca %s: %m", tls->ca);
	return check_files(tls);
}

int tls_options(const struct api_tls *tls, struct MHD_OptionItem opts[TLS_OPTIONS_MAX])
{
	int r;

	tls_release();
	if ((r = load(tls)) < 0) {
		tls_release();
		return r;
	}
	int n = 0;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, pem.cert };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, pem.key };
	/* makes MHD send a certificate request naming this CA, and trust it */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, pem.ca };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return 0;
}
