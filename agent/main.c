/* sanpoold: the per-host storage agent. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/watchdog.h"
#include "api/http.h"
#include "lease/sharing.h"
#include "lease/holder.h"
#include "lease/spm.h"
#include "lease/vlease.h"
#include "lib/connections.h"
#include "lib/devices.h"
#include "lib/domain_block.h"
#include "lib/extend.h"
#include "lib/mailbox.h"
#include "lib/ops.h"
#include "lib/store.h"
#include "lib/task.h"
#include "lib/thinmon.h"
#include "lib/util/error.h"
#include "lib/util/log.h"

static void usage(void)
{
	printf("Usage: sanpoold [--config FILE] [--list-routes] [--version]\n"
	       "  --config FILE   read settings from FILE (default: built-in defaults,\n"
	       "                  see packaging/sanpoold.conf for every key)\n"
	       "  --list-routes   print the REST API routes and exit\n");
}

static int bootstrap(const struct config *cfg)
{
	char pool[UUID_STR_LEN], domain[UUID_STR_LEN];

	if (!cfg->bootstrap_default || store_pool_count() > 0)
		return 0;
	if (store_pool_create("default", &(struct domain_spec){ .name = "local" }, pool, domain) < 0 ||
	    spm_pool_created(pool) < 0)
		return log_error_errno(sp_error_last()->code, "cannot create the default pool: %s",
				       sp_error_last()->message);
	log_info("created default pool %s with local file domain %s under %s", pool, domain, cfg->data_dir);
	return 0;
}

static int wait_for_signal(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigwait(&set, &sig);
	return sig;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "list-routes", no_argument, NULL, 'r' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t start = now_ms();
	const char *config_path = NULL;
	struct config cfg;
	char hostname[256] = "localhost";
	int c;

	/* a volume lease's holder process (lease/holder.h): the agent starts its
	 * own binary again, so that no other path has to be found */
	if (argc >= 2 && strcmp(argv[1], "--lease-holder") == 0)
		return lease_holder_main(argc - 2, argv + 2);

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'r': api_print_routes(); return 0;
		case 'V': printf("sanpoold %s\n", SANPOOL_VERSION); return 0;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	config_defaults(&cfg);
	if (config_path && config_load(config_path, &cfg) < 0)
		return 1;
	log_set_level(cfg.log_level);
	if (cfg.data_dir[0] != '/') {
		/* paths reported by the API and written into images are absolute */
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)) || strlen(cwd) + strlen(cfg.data_dir) + 2 > sizeof(cfg.data_dir) - 200)
			return log_error_errno(-ENAMETOOLONG, "cannot resolve data_dir %s", cfg.data_dir), 1;
		memmove(cfg.data_dir + strlen(cwd) + 1, cfg.data_dir, strlen(cfg.data_dir) + 1);
		memcpy(cfg.data_dir, cwd, strlen(cwd));
		cfg.data_dir[strlen(cwd)] = '/';
	}
	gethostname(hostname, sizeof(hostname) - 1);

	/* signals are taken by sigwait in this thread only: block them before any thread starts */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	domain_block_configure(&(struct block_settings){
		.run_dir = cfg.run_dir, .activation = cfg.lvm_activation, .initial_size = cfg.thin_initial_size,
		.extend_chunk = cfg.thin_extend_chunk, .lvm_timeout_ms = (unsigned)cfg.lvm_timeout_s * 1000 });
	task_set_kept((unsigned)cfg.tasks_kept);
	extend_configure(&(struct extend_settings){ .chunk = cfg.thin_extend_chunk,
						    .watermark_percent = (unsigned)cfg.thin_watermark_percent });
	mailbox_configure(&(struct mailbox_settings){ .poll_ms = (unsigned)cfg.mailbox_poll_ms,
						      .timeout_ms = (unsigned)cfg.mailbox_timeout_s * 1000,
						      .host_id = (unsigned)cfg.host_id, .handler = extend_serve });
	if (!cfg.sanlock)
		log_info("leases are off (sanlock = no): this host manages its pools alone");
	if (store_open(cfg.data_dir) < 0 ||
	    spm_service_start(&(struct spm_settings){ .enabled = cfg.sanlock, .host_id = (unsigned)cfg.host_id,
						      .io_timeout = (unsigned)cfg.sanlock_io_timeout }) < 0 ||
	    vlease_service_start(&(struct vlease_settings){ .enabled = cfg.sanlock, .run_dir = cfg.run_dir }) < 0 ||
	    bootstrap(&cfg) < 0 || connections_open(cfg.data_dir) < 0)
		return 1;
	devices_monitor_start(5000);
	if (sharing_service_start((unsigned)cfg.host_id, cfg.sanlock) < 0)
		return 1;
	/* a pool's journals are its SPM's to replay (spm_start), with leases on */
	if (cfg.sanlock)
		ops_recover("");
	else
		ops_recover_all();
	if (task_runner_start(cfg.task_workers) < 0)
		return log_error_errno(-EAGAIN, "cannot start task workers"), 1;
	if (thinmon_start(&(struct thinmon_settings){ .enabled = cfg.libvirt, .uri = cfg.libvirt_uri,
						      .run_dir = cfg.run_dir, .chunk = cfg.thin_extend_chunk,
						      .watermark_percent = (unsigned)cfg.thin_watermark_percent }) < 0)
		return 1;

	struct api_config api = {
		.address = cfg.listen_address,
		.port = cfg.port,
		.max_body_bytes = cfg.max_body_bytes,
		.host_id = cfg.host_id,
		.hostname = hostname,
		.started_ms = start,
		.tls = cfg.tls ? &(struct api_tls){ cfg.tls_cert, cfg.tls_key, cfg.tls_ca } : NULL,
		.local_socket = cfg.local_socket,
	};
	if (api_start(&api) < 0)
		return 1;
	log_info("sanpoold %s ready in %lld ms: API on %s://%s:%d/v1 (data in %s)", SANPOOL_VERSION,
		 (long long)(now_ms() - start), cfg.tls ? "https" : "http", cfg.listen_address, api_port(), cfg.data_dir);
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s:%d", cfg.listen_address, api_port());
	watchdog_start(&(struct watchdog_probe){ cfg.local_socket, cfg.tls ? NULL : cfg.listen_address, api_port() });

	int sig = wait_for_signal();
	log_info("received %s: shutting down", strsignal(sig));
	sd_notify(0, "STOPPING=1");
	api_stop();
	thinmon_stop();
	task_runner_stop();
	sharing_service_stop();
	vlease_service_stop();
	spm_service_stop();
	store_close();
	devices_monitor_stop();
	connections_close();
	domain_block_shutdown();
	log_info("stopped");
	return 0;
}
