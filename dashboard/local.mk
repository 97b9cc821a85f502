# dashboard/: the HTTP thread (h2o) with /metrics, health, the JSON API and the web UI, built into
# the broker's library (src/local.mk). The UI's files are embedded in the broker (embed.sh).
src_libtrpcd_la_SOURCES += \
	dashboard/http.h \
	dashboard/http.c \
	dashboard/internal.h \
	dashboard/api.c \
	dashboard/collect.c \
	dashboard/events.c \
	dashboard/https.c \
	dashboard/static.c
nodist_src_libtrpcd_la_SOURCES = dashboard/www.c

# Every file here is embedded and served (tests/http/dashboard.sh checks that none is missing).
dashboard_www_files = \
	dashboard/www/app.js \
	dashboard/www/clients.js \
	dashboard/www/dlq.js \
	dashboard/www/favicon.svg \
	dashboard/www/index.html \
	dashboard/www/login.js \
	dashboard/www/overview.js \
	dashboard/www/settings.js \
	dashboard/www/streams.js \
	dashboard/www/style.css \
	dashboard/www/topics.js \
	dashboard/www/ui.js \
	dashboard/www/users.js
EXTRA_DIST += dashboard/embed.sh $(dashboard_www_files)
CLEANFILES += dashboard/www.c

dashboard/www.c: $(dashboard_www_files) dashboard/embed.sh
	$(AM_V_GEN)$(MKDIR_P) dashboard && \
	$(SHELL) $(srcdir)/dashboard/embed.sh $(addprefix $(srcdir)/,$(dashboard_www_files)) > $@.tmp && mv $@.tmp $@
