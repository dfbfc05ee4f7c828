# The runbook fix for the original outage, as a Puppet manifest.
file { '/etc/nginx/sites-enabled/default':
  ensure => link,
  target => '/etc/nginx/sites-available/default',
  notify => Service['nginx'],
}

service { 'nginx':
  ensure     => running,
  hasrestart => true,
  hasstatus  => true,
}
