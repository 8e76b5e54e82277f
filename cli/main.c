/* sanpoolctl: the command-line client of sanpoold's REST API.
 * Parses the command line once for every command, then dispatches through
 * the command tables of the cmd_*.c files. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/http_client.h"
#include "cli/report.h"
#include "lib/util/cleanup.h"

#define DEFAULT_URL "http://127.0.0.1:7447"
/* sanpoold's local_socket in the packaged config (root only) */
#define DEFAULT_SOCKET "/run/sanpool/sanpoold.sock"

static const struct command *const tables[] = { host_commands,	 pool_commands,	  domain_commands, image_commands,
						 snapshot_commands, volume_commands, task_commands,
						 check_commands };

/* Above every OPT_* bit, so that the two kinds of option values never collide. */
enum { ARG_URL = 0x10000, ARG_JSON, ARG_NO_WAIT, ARG_HELP, ARG_SOCKET, ARG_CERT, ARG_KEY, ARG_CACERT };

/* Where the API is: a URL, or a unix socket, with TLS files for https. */
struct endpoint {
	const char *url;
	bool url_given; /* --url or $SANPOOL_URL: TCP even when the default socket exists */
	struct http_transport transport;
};

static const struct option long_options[] = {
	{ "url", required_argument, NULL, ARG_URL },
	{ "socket", required_argument, NULL, ARG_SOCKET },
	{ "cert", required_argument, NULL, ARG_CERT },
	{ "key", required_argument, NULL, ARG_KEY },
	{ "cacert", required_argument, NULL, ARG_CACERT },
	{ "json", no_argument, NULL, ARG_JSON },
	{ "no-wait", no_argument, NULL, ARG_NO_WAIT },
	{ "help", no_argument, NULL, ARG_HELP },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "master-domain-name", required_argument, NULL, OPT_MASTER_DOMAIN_NAME },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "capacity", required_argument, NULL, OPT_CAPACITY },
	{ "preallocated", no_argument, NULL, OPT_PREALLOCATED },
	{ "to-domain", required_argument, NULL, OPT_TO_DOMAIN },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("Usage: sanpoolctl [--url URL | --socket PATH] [--cert FILE --key FILE --cacert FILE]\n"
	      "                  [--json] [--no-wait] COMMAND...\n\nCommands:\n",
	      f);
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct command *cmd = tables[t]; cmd->resource; cmd++)
			fprintf(f, "  %s\n", cmd->usage);
	fputs("\nOptions:\n"
	      "  --url URL      the API (default: $SANPOOL_URL, else the local socket\n"
	      "                 " DEFAULT_SOCKET " if it exists, else " DEFAULT_URL ")\n"
	      "  --socket PATH  the daemon's local unix socket (root only, no certificates)\n"
	      "  --cert FILE    client certificate (PEM) for an https URL: mutual TLS\n"
	      "  --key FILE     its private key (PEM)\n"
	      "  --cacert FILE  the CA (PEM) that signed the daemon's certificate\n"
	      "  --json         print the API's JSON instead of tables\n"
	      "  --no-wait      print the task id of a change and return at once\n"
	      "  --domain UUID  the domain of images (default: the master domain of the\n"
	      "                 first pool, else the only domain)\n"
	      "SIZE is bytes or a number with K, M, G or T (powers of 1024).\n"
	      "IMG is an image UUID or a name unique in the domain.\n"
	      "A change waits for its task, with a progress bar when stderr is a terminal;\n"
	      "with --json it prints the task as it ended (its result inside).\n\n"
	      "Exit status: 0 success, 1 the API or the task failed, 2 usage error.\n",
	      f);
}

/* The name of an OPT_* bit, for messages. */
static const char *option_name(unsigned bit)
{
	for (const struct option *o = long_options; o->name; o++)
		if ((unsigned)o->val == bit)
			return o->name;
	return "?";
}

static void store_option(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_DOMAIN: c->domain = arg; break;
	case OPT_NAME: c->name = arg; break;
	case OPT_MASTER_DOMAIN_NAME: c->master_domain_name = arg; break;
	case OPT_PATH: c->path = arg; break;
	case OPT_POOL: c->pool = arg; break;
	case OPT_FORMAT: c->format = arg; break;
	case OPT_CAPACITY: c->capacity = arg; break;
	case OPT_PREALLOCATED: c->preallocated = true; break;
	case OPT_TO_DOMAIN: c->to_domain = arg; break;
	}
	c->seen |= (unsigned)opt;
}

/* Returns 0, 1 when help was asked for, or -CLI_E_USAGE. */
static int parse_options(int argc, char **argv, struct cli *c, struct endpoint *ep)
{
	int opt;

	opterr = 0; /* our own message, with the hint */
	while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		switch (opt) {
		case ARG_URL: ep->url = optarg, ep->url_given = true; break;
		case ARG_SOCKET: ep->transport.unix_socket = optarg; break;
		case ARG_CERT: ep->transport.cert = optarg; break;
		case ARG_KEY: ep->transport.key = optarg; break;
		case ARG_CACERT: ep->transport.cacert = optarg; break;
		case ARG_JSON: c->json = true; break;
		case ARG_NO_WAIT: c->wait = false; break;
		case 'h':
		case ARG_HELP: return 1;
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		case '?': return usage_error("unknown option '%s'", argv[optind - 1]);
		default: store_option(c, opt, optarg); break;
		}
	}
	return 0;
}

static const struct command *find_command(const char *resource, const char *action)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct command *cmd = tables[t]; cmd->resource; cmd++)
			if (strcmp(cmd->resource, resource) == 0 &&
			    (cmd->action ? action && strcmp(cmd->action, action) == 0 : true))
				return cmd;
	return NULL;
}

static bool resource_known(const char *resource)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		if (strcmp(tables[t][0].resource, resource) == 0)
			return true;
	return false;
}

/* Checks positional arguments and options against what cmd takes. */
static int check_command(const struct command *cmd, const struct cli *c)
{
	unsigned extra = c->seen & ~cmd->allowed, missing = cmd->required & ~c->seen;

	if (c->nargs < cmd->nargs || c->nargs > (cmd->max_nargs > cmd->nargs ? cmd->max_nargs : cmd->nargs))
		return usage_error("%s arguments: usage: sanpoolctl %s", c->nargs < cmd->nargs ? "missing" : "too many",
				   cmd->usage);
	for (unsigned bit = 1; bit <= OPT_DOMAIN; bit <<= 1) {
		if (extra & bit)
			return usage_error("'%s%s%s' does not take --%s", cmd->resource, cmd->action ? " " : "",
					   cmd->action ?: "", option_name(bit));
		if (missing & bit)
			return usage_error("--%s is required: usage: sanpoolctl %s", option_name(bit), cmd->usage);
	}
	return 0;
}

/* Finds the command the words name and checks it; returns it or NULL (reported). */
static const struct command *resolve(struct cli *c, int nwords, char **words)
{
	const struct command *cmd;

	if (nwords == 0) {
		usage(stderr);
		return NULL;
	}
	cmd = find_command(words[0], nwords > 1 ? words[1] : NULL);
	if (!cmd) {
		if (nwords > 1 && resource_known(words[0]))
			usage_error("unknown command '%s %s'", words[0], words[1]);
		else if (resource_known(words[0]))
			usage_error("'%s' needs an action, e.g. '%s list'", words[0], words[0]);
		else
			usage_error("unknown command '%s'", words[0]);
		return NULL;
	}
	c->args = words + (cmd->action ? 2 : 1);
	c->nargs = nwords - (cmd->action ? 2 : 1);
	return check_command(cmd, c) < 0 ? NULL : cmd;
}

static int exit_status(int r)
{
	if (r >= 0)
		return EXIT_OK;
	return r == -CLI_E_USAGE ? EXIT_USAGE : EXIT_FAILED;
}

/* The local socket serves root without certificates: taken when it exists
 * and no URL was asked for. Over a socket the URL's host is only a name. */
static void choose_endpoint(struct endpoint *ep)
{
	if (!ep->transport.unix_socket && !ep->url_given && access(DEFAULT_SOCKET, F_OK) == 0)
		ep->transport.unix_socket = DEFAULT_SOCKET;
	if (ep->transport.unix_socket && !ep->url_given)
		ep->url = "http://localhost";
}

static int run(const struct command *cmd, struct cli *c, const struct endpoint *ep)
{
	_cleanup_(http_client_freep) struct http_client *http = NULL;
	int r;

	if ((r = http_client_new(ep->url, &ep->transport, &http)) < 0)
		return report_error(r, "cannot set up the HTTP client");
	c->http = http;
	r = cmd->fn(c);
	c->http = NULL;
	return r;
}

int main(int argc, char **argv)
{
	struct cli c = { .wait = true };
	struct endpoint ep = { .url = getenv("SANPOOL_URL") };
	const struct command *cmd;
	int r;

	ep.url_given = ep.url && *ep.url;
	if (!ep.url_given)
		ep.url = DEFAULT_URL;
	r = parse_options(argc, argv, &c, &ep);
	if (r > 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (r < 0)
		return EXIT_USAGE;
	if (!(cmd = resolve(&c, argc - optind, argv + optind)))
		return EXIT_USAGE;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		report_error(-ENOMEM, "cannot initialise libcurl");
		return EXIT_FAILED;
	}
	choose_endpoint(&ep);
	r = run(cmd, &c, &ep);
	curl_global_cleanup();
	return exit_status(r);
}
