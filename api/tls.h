/* Mutual TLS for the REST API on TCP: libmicrohttpd over GnuTLS, with a client
 * certificate signed by the configured CA required in the handshake. */
#pragma once
#include <microhttpd.h>
#include <stddef.h>

struct api_tls {
	const char *cert; /* this host's certificate (PEM), signed by the engine's CA */
	const char *key;  /* its private key (PEM) */
	const char *ca;   /* the CA (PEM) that client certificates must chain to */
};

/* Reads the three files and fills opts (at least TLS_OPTIONS_MAX entries, ended
 * by MHD_OPTION_END) with the options that make an MHD daemon, started with
 * MHD_USE_TLS, require and verify a client certificate. The files' contents
 * stay loaded until tls_release. Returns 0, or -errno with the cause logged. */
#define TLS_OPTIONS_MAX 6
int tls_options(const struct api_tls *tls, struct MHD_OptionItem opts[TLS_OPTIONS_MAX]);
void tls_release(void);
