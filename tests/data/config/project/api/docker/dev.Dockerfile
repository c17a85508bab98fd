FROM scratch
COPY app /srv/app
